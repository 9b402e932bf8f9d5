"""Altair chart builders: plain functions of the store's frames, testable without Streamlit.

Inputs are `worker.store.epochs_frame` / `gradients_frame` output. An optional `run` column (a
display label) names each run in legends; without it the run id is used.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

# Overlaying more epochs than this makes the gradient-flow legend unreadable (and 100 epochs of a
# 75-layer net would pass Altair's 5,000-row inline limit): keep this many, evenly spaced, first and last included.
MAX_GRAD_LINES = 21

_SPLITS = {"train": "Train", "val": "Validation"}
_POINTS = alt.OverlayMarkDef(size=16)  # small: 100 epochs of points should not hide the line
_LINE_LEGEND = alt.Legend(symbolType="stroke", symbolStrokeWidth=2)  # legend entries drawn as (dashed) lines


def run_labels(df: pd.DataFrame) -> pd.Series:
    """The legend label of each row: the `run` column when present, else '#<run_id>'."""
    if "run" in df.columns:
        return df["run"].astype(str)
    return "#" + df["run_id"].astype(str)


def _long_metric(epochs_df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Train and val columns of one metric ('loss' or 'acc') stacked: run, epoch, split, value."""
    parts = []
    for split, name in _SPLITS.items():
        part = pd.DataFrame(
            {
                "run": run_labels(epochs_df),
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
        x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", title=title, axis=axis, scale=alt.Scale(zero=zero)),
        strokeDash=alt.StrokeDash("split:N", title="Split", sort=list(_SPLITS.values()), legend=_LINE_LEGEND),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:Q", title="Epoch"),
            alt.Tooltip("split:N", title="Split"),
            alt.Tooltip("value:Q", title=title, format=y_format or ".4f"),
        ],
    )
    if several:
        encodings["color"] = alt.Color("run:N", title="Run", legend=_LINE_LEGEND)
    else:
        encodings["color"] = alt.Color("split:N", title="Split", sort=list(_SPLITS.values()), legend=_LINE_LEGEND)
    return alt.Chart(data, title=title).mark_line(point=_POINTS).encode(**encodings)


def loss_chart(epochs_df: pd.DataFrame) -> alt.Chart:
    """Train and validation loss per epoch: dash = split, colour = run when several runs."""
    return _metric_chart(epochs_df, "loss", "Loss", None, zero=False)


def accuracy_chart(epochs_df: pd.DataFrame) -> alt.Chart:
    """Train and validation accuracy (fractions, shown as %) per epoch: dash = split, colour = run when several."""
    return _metric_chart(epochs_df, "acc", "Accuracy", ".1%", zero=True)


def pick_epochs(epochs: list[int], limit: int = MAX_GRAD_LINES) -> list[int]:
    """At most `limit` of the sorted distinct epochs, evenly spaced, always keeping the first and the last."""
    epochs = sorted(set(int(e) for e in epochs))
    if len(epochs) <= limit:
        return epochs
    if limit < 2:
        return epochs[-1:]
    step = (len(epochs) - 1) / (limit - 1)
    return sorted({epochs[round(i * step)] for i in range(limit)})


def gradient_flow_chart(grads_df: pd.DataFrame, epoch: int | None = None) -> alt.Chart:
    """Mean |grad| of each weight tensor (last batch of the epoch) along the network, log y axis.

    x is the layer label in forward order (sorted by layer_index); one line per epoch (at most
    MAX_GRAD_LINES, evenly spaced) or only `epoch`. With several runs, colour = run and each
    (run, epoch) is its own line. Zeros cannot sit on a log axis; they are left out
    (see `zero_gradients`).
    """
    data = _shown(grads_df, epoch)
    data = data[data["abs_mean_last"] > 0]
    order = grads_df.drop_duplicates("layer").sort_values("layer_index", kind="stable")["layer"].tolist()
    several = data["run"].nunique() > 1
    encodings = dict(
        # The domain names every layer, so one whose gradient is exactly zero leaves a visible gap.
        x=alt.X(
            "layer:N",
            title="Layer (forward order)",
            sort=order,
            scale=alt.Scale(domain=order),
            axis=alt.Axis(labelAngle=-90, labelLimit=260, labelFontSize=9, labelOverlap=False),
        ),
        y=alt.Y("abs_mean_last:Q", title="Mean |gradient|", scale=alt.Scale(type="log"), axis=alt.Axis(format=".0e")),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:O", title="Epoch"),
            alt.Tooltip("layer_index:Q", title="Index"),
            alt.Tooltip("layer:N", title="Layer"),
            alt.Tooltip("abs_mean_last:Q", title="Mean |grad|", format=".3e"),
        ],
    )
    if several:
        encodings["color"] = alt.Color("run:N", title="Run")
    else:
        # A continuous legend stays one gradient bar however many epochs are drawn.
        # Legend entries at drawn epochs only (a quantitative legend would offer epoch 1.2).
        legend = alt.Legend(values=pick_epochs(data["epoch"].tolist(), 6), format="d")
        encodings["color"] = alt.Color("epoch:Q", title="Epoch", scale=alt.Scale(scheme="viridis"), legend=legend)
    encodings["detail"] = alt.Detail("epoch:O")  # one line per (run, epoch)
    title = "Mean |gradient| per layer" + (f", epoch {epoch}" if epoch is not None else "")
    chart = alt.Chart(data.drop(columns=["run_id"]), title=title).mark_line(point=_POINTS).encode(**encodings)
    return chart.properties(height=460)  # Streamlit fits all of the chart, vertical labels included, in this


def zero_gradients(grads_df: pd.DataFrame, epoch: int | None = None) -> int:
    """How many of the plotted values are exactly zero (and so hidden on the log axis)."""
    return int((_shown(grads_df, epoch)["abs_mean_last"] <= 0).sum())


def _shown(grads_df: pd.DataFrame, epoch: int | None) -> pd.DataFrame:
    """The rows gradient_flow_chart plots: `epoch` only, or the epochs pick_epochs keeps; with a run label."""
    data = grads_df[["run_id", "epoch", "layer_index", "layer", "abs_mean_last"]].copy()
    data["run"] = run_labels(grads_df)
    if epoch is not None:
        return data[data["epoch"] == epoch]
    return data[data["epoch"].isin(pick_epochs(data["epoch"].tolist()))]
