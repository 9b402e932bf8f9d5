"""Every chart the Compare page shows, built from its reads and the runs' names."""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import pandas as pd

from dashboard.charts.curves import accuracy_chart, loss_chart
from dashboard.charts.gradients import (
    colour_domain,
    gradient_flow_chart,
    gradient_heatmap,
    gradient_ratio_chart,
    layers_of_kind,
)


def compare_charts(
    epochs_df: pd.DataFrame,
    grads_df: pd.DataFrame,
    ends_df: pd.DataFrame,
    names: Mapping[int, str],
    epoch: int | None = None,
    per_run_flow: bool = False,
    layers: str = "all",
    shared_scale: bool = True,
) -> dict[str, alt.TopLevelMixin]:
    """Every chart the Compare page shows, by key: loss, accuracy, ratio, heatmap-<id> per run, and either
    flow (all runs at `epoch`, or each at its latest when None) or, with `per_run_flow`, flow-<id> per run
    (its epochs overlaid, as in the report's figures). Only what is shown is built.

    `layers` (a LAYER_KINDS key) filters the flow charts; `shared_scale` gives every heatmap one log colour
    scale (else each its own). `grads_df` may hold only some epochs (the page loads those it draws); `ends_df`
    holds every epoch.
    """
    label = {int(k): v for k, v in names.items()}
    epochs_df = epochs_df.assign(run=epochs_df["run_id"].map(label))
    grads_df = grads_df.assign(run=grads_df["run_id"].map(label))
    out: dict[str, alt.TopLevelMixin] = {"loss": loss_chart(epochs_df), "accuracy": accuracy_chart(epochs_df)}
    all_layers, grads_df = grads_df, layers_of_kind(grads_df, layers)
    if per_run_flow:
        for run_id, rows in grads_df.groupby("run_id", sort=False):
            out[f"flow-{run_id}"] = gradient_flow_chart(rows, title=f"{label.get(int(run_id), run_id)}: every epoch")
    elif epoch is None:  # each run at its own latest epoch
        latest = grads_df.groupby("run_id")["epoch"].transform("max")
        at = grads_df[grads_df["epoch"] == latest]
        out["flow"] = gradient_flow_chart(at, title="Mean |gradient| per layer, latest epoch of each run")
    else:
        out["flow"] = gradient_flow_chart(grads_df, epoch)
    out["ratio"] = gradient_ratio_chart(ends_df.assign(run=ends_df["run_id"].map(label)))
    domain = colour_domain(all_layers) if shared_scale else None
    for run_id, rows in all_layers.groupby("run_id", sort=False):
        out[f"heatmap-{run_id}"] = gradient_heatmap(rows, title=str(label.get(int(run_id), run_id)), domain=domain)
    return out
