"""Loss and accuracy per epoch, and Table 1's validation accuracy beside the report's."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts.style import EPOCH_AXIS, LINE_LEGEND, POINTS, RUNS, SPLITS, legend_names
from dashboard.table1 import lr_text


def _long_metric(epochs_df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Train and val columns of one metric ('loss' or 'acc') stacked: run, epoch, split, value."""
    parts = []
    for split, name in SPLITS.items():
        part = pd.DataFrame(
            {
                "run": legend_names(epochs_df),
                "epoch": epochs_df["epoch"].astype(int),
                "split": name,
                "value": epochs_df[f"{split}_{metric}"].astype(float),
            }
        )
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _metric_chart(epochs_df: pd.DataFrame, metric: str, title: str, y_format: str | None, zero: bool) -> alt.Chart:
    data = _long_metric(epochs_df, metric)
    several = data["run"].nunique() > 1
    axis = alt.Axis(format=y_format) if y_format else alt.Axis()
    encodings = dict(
        x=alt.X("epoch:Q", title="Epoch", axis=EPOCH_AXIS),
        y=alt.Y("value:Q", title=title, axis=axis, scale=alt.Scale(zero=zero)),
        strokeDash=alt.StrokeDash("split:N", title="Split", sort=list(SPLITS.values()), legend=LINE_LEGEND),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("split:N", title="Split"),
            alt.Tooltip("value:Q", title=title, format=y_format or ".4f"),
        ],
    )
    if several:
        encodings["color"] = alt.Color("run:N", title="Run", scale=RUNS, legend=LINE_LEGEND)
    else:
        encodings["color"] = alt.Color("split:N", title="Split", sort=list(SPLITS.values()), legend=LINE_LEGEND)
    # interactive(): zoom with the wheel, pan by dragging, double-click to reset.
    return alt.Chart(data, title=title).mark_line(point=POINTS).encode(**encodings).interactive()


def loss_chart(epochs_df: pd.DataFrame) -> alt.Chart:
    """Train and validation loss per epoch: dash = split, colour = run when several runs."""
    return _metric_chart(epochs_df, "loss", "Loss", None, zero=False)


def accuracy_chart(epochs_df: pd.DataFrame) -> alt.Chart:
    """Train and validation accuracy (fractions, shown as %) per epoch: dash = split, colour = run when several."""
    return _metric_chart(epochs_df, "acc", "Accuracy", ".1%", zero=True)


def results_chart(table: pd.DataFrame) -> alt.Chart:
    """Table 1's validation accuracy, ours beside the report's, per row (`table1.table1_frame` output)."""
    rows = table.assign(row=table["model"] + " · " + table["lr"].map(lr_text))
    data = pd.concat(
        [
            rows[["row", "run_id"]].assign(source="This lab", val_acc=rows["val_acc_pct"]),
            rows[["row", "run_id"]].assign(source="Report", val_acc=rows["report_val_acc_pct"]),
        ],
        ignore_index=True,
    ).dropna(subset=["val_acc"])
    data["run_id"] = data["run_id"].astype("float64")  # nullable ints do not serialise to JSON
    return (
        alt.Chart(data, title="Validation accuracy at the best-val epoch, %")
        .mark_bar()
        .encode(
            x=alt.X("row:N", title=None, sort=rows["row"].tolist(), axis=alt.Axis(labelAngle=-30, labelLimit=200)),
            xOffset=alt.XOffset("source:N", sort=["This lab", "Report"]),
            y=alt.Y("val_acc:Q", title="Val acc (%)"),
            color=alt.Color("source:N", title=None, sort=["This lab", "Report"], scale=RUNS),
            tooltip=[
                alt.Tooltip("row:N", title="Row"),
                alt.Tooltip("source:N", title="Source"),
                alt.Tooltip("val_acc:Q", title="Val acc (%)", format=".2f"),
            ],
        )
    )
