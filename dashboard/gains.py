"""The gain per layer: how much the gradient shrinks (or grows) flowing back through one layer, from the stored
gradient rows alone (no new measurement).

Gain of a layer = its mean |grad| (the epoch's last batch) / the next layer's, for the conv and linear weights in
forward order. BN weights (labels with a `bn` part: `bn_0`, `shortcut_bn`, ...) are left out: a BN gamma's
gradient is a per-channel sum, not comparable with a kernel's per-weight mean, and between two convs it would
split one step of the chain into two meaningless ones. Where the gain stays below 1, its product over 37
layers vanishes; with BN and residual connections it stays near 1. Measured (docs/why.md), VGG38's gain is
near 1 within a stage and 1e-3..1e-5 at each reduction block: its median gain (~0.95) hides that, the geometric
mean (~0.4) does not. Input: `worker.frames.gradients_frame` (run_id, epoch, layer_index, layer, abs_mean_last).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

BN_LABEL = re.compile(r"(^|_)bn(_\d+)?(_|$)")


def is_bn(label: str) -> bool:
    return bool(BN_LABEL.search(label))


def layer_gains(grads: pd.DataFrame, value: str = "abs_mean_last") -> pd.DataFrame:
    """Per (run, epoch, layer but the last): run_id, epoch, layer_index, layer and `gain` = the layer's `value`
    over the next non-BN layer's; NaN where either is missing or zero. Sorted by run, epoch, layer_index."""
    kept = grads[~grads["layer"].map(is_bn)].sort_values(["run_id", "epoch", "layer_index"], kind="stable")
    here = kept[value].where(kept[value] > 0)
    after = here.groupby([kept["run_id"], kept["epoch"]]).shift(-1)
    out = kept[["run_id", "epoch", "layer_index", "layer"]].assign(gain=(here / after).astype("float64"))
    last = kept.groupby(["run_id", "epoch"])["layer_index"].transform("max") == kept["layer_index"]
    return out[~last].reset_index(drop=True)


def median_gains(gains: pd.DataFrame) -> pd.DataFrame:
    """Per run at its latest epoch: run_id, epoch, median_gain (what a typical layer does), geometric_gain (the
    constant per-layer factor with the same product, i.e. the input / last layer ratio spread evenly) and
    layers (how many gains they are of; NaN gains left out)."""
    latest = gains[gains["epoch"] == gains.groupby("run_id")["epoch"].transform("max")].dropna(subset=["gain"])
    grouped = latest.groupby("run_id", sort=True)
    return pd.DataFrame({
        "epoch": grouped["epoch"].max(),
        "median_gain": grouped["gain"].median(),
        "geometric_gain": np.exp(np.log(latest["gain"]).groupby(latest["run_id"]).mean()),
        "layers": grouped["gain"].count(),
    }).reset_index()  # fmt: skip
