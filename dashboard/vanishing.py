"""The vanishing-gradient flag: a run's input layer getting a tiny fraction of its last layer's mean |grad|.

Input: the gradient ends (run_id, epoch, first, last): `worker.frames.gradient_ends_frame` reads them, or
`gradient_ends` takes them from gradient rows already read; nothing here queries or draws.
"""

from __future__ import annotations

import pandas as pd

from vgp_models.vanishing import VANISHING_RATIO, gradient_ratio


def gradient_ends(grads: pd.DataFrame) -> pd.DataFrame:
    """`worker.frames.gradient_ends_frame` from gradient rows already read (run_id, epoch, layer_index,
    abs_mean_last): each (run, epoch)'s first and last weight's value."""
    rows = grads.sort_values(["run_id", "epoch", "layer_index"])[["run_id", "epoch", "abs_mean_last"]]
    first = rows.drop_duplicates(["run_id", "epoch"], keep="first").rename(columns={"abs_mean_last": "first"})
    last = rows.drop_duplicates(["run_id", "epoch"], keep="last").rename(columns={"abs_mean_last": "last"})
    return first.merge(last, on=["run_id", "epoch"]).reset_index(drop=True)


def with_ratio(ends: pd.DataFrame) -> pd.DataFrame:
    """`ends` plus `ratio` (`gradient_ratio`: first / last, NaN where the last layer's value is missing or zero)."""
    return ends.assign(ratio=gradient_ratio(ends["first"], ends["last"]))


def latest_ratios(ends: pd.DataFrame) -> pd.Series:
    """Per run (index run_id): first/last at its latest epoch (NaN when undefined)."""
    if ends.empty:
        return pd.Series(dtype="float64", name="ratio")
    latest = with_ratio(ends).sort_values(["run_id", "epoch"]).groupby("run_id").tail(1)
    return latest.set_index("run_id")["ratio"]


def vanishing_gradients(ends: pd.DataFrame, threshold: float = VANISHING_RATIO) -> pd.Series:
    """The flag: per run (index run_id), True when at its latest epoch the input layer's mean |grad| (last
    batch) is below `threshold` times the last layer's. A run with no usable last-layer value is not flagged."""
    return (latest_ratios(ends) < threshold).astype(bool).rename("vanishing")


WARNING = (
    "**Vanishing gradients** in {name}: its input layer gets {ratio:.1e} of its last layer's mean "
    f"|gradient| (latest epoch; flagged below {VANISHING_RATIO:g})."
)
"""The flag's line, as the Run and Compare pages show it: `display.md(WARNING, name=..., ratio=...)`."""


def flagged(ends: pd.DataFrame) -> pd.Series:
    """The latest input/last-layer ratio of each flagged run, by run id."""
    return latest_ratios(ends)[vanishing_gradients(ends)]
