"""Gradient charts: mean |grad| per layer along the network (flow), layer x epoch heatmaps, and the input/last
layer ratio with the vanishing threshold. Inputs: `worker.frames.gradients_frame` / `gradient_ends_frame`."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts.style import EPOCH_AXIS, POINTS, RUNS, legend_names
from dashboard.vanishing import with_ratio
from vgp_models.vanishing import VANISHING_RATIO

# Overlaying more epochs than this makes the gradient-flow legend unreadable (and 100 epochs of a
# 75-layer net would pass Altair's 5,000-row inline limit): keep this many, evenly spaced, first and last included.
MAX_GRAD_LINES = 21

# A heatmap shows at most this many epochs (evenly spaced, first and last kept): 75 layers x 50 epochs = 3,750
# cells, under Altair's 5,000-row inline limit. Exports (CSV) are never thinned.
HEATMAP_EPOCHS = 50

REPORT_LABELS = {"logit_linear_layer": "weight_logit_linear_layer"}  # how the report's figures write it


LAYER_KINDS = {"all": "All weights", "weights": "Conv and linear", "bn": "BN only"}
"""The gradient-flow filter: with batch norm, conv kernels and BN weights alternate along the net and their
gradients differ by orders of magnitude, so a line through both zig-zags."""


def layers_of_kind(grads_df: pd.DataFrame, kind: str = "all") -> pd.DataFrame:
    """The rows of one LAYER_KINDS kind: BN weights are those labelled `..._bn_<k>`, the rest conv or linear."""
    if kind == "all":
        return grads_df
    bn = grads_df["layer"].str.contains(r"_bn_\d+$", regex=True)
    return grads_df[bn] if kind == "bn" else grads_df[~bn]


def pick_epochs(epochs: list[int], limit: int = MAX_GRAD_LINES) -> list[int]:
    """At most `limit` of the sorted distinct epochs, evenly spaced, always keeping the first and the last."""
    epochs = sorted(set(int(e) for e in epochs))
    if len(epochs) <= limit:
        return epochs
    if limit < 2:
        return epochs[-1:]
    step = (len(epochs) - 1) / (limit - 1)
    return sorted({epochs[round(i * step)] for i in range(limit)})


def layer_order(grads_df: pd.DataFrame) -> list[str]:
    """Every layer label in forward order; several runs' orders merged (VGG08's layers sit among VGG38's).

    A topological merge of each run's sequence (sorted by layer_index); ties go to the layer seen earliest.
    """
    if "run_id" not in grads_df or grads_df["run_id"].nunique() <= 1:
        return grads_df.drop_duplicates("layer").sort_values("layer_index", kind="stable")["layer"].tolist()
    first_seen: dict[str, float] = {}
    after: dict[str, set[str]] = {}
    for _, run in grads_df.drop_duplicates(["run_id", "layer"]).groupby("run_id", sort=True):
        seq = run.sort_values("layer_index", kind="stable")["layer"].tolist()
        for i, layer in enumerate(seq):
            first_seen[layer] = min(first_seen.get(layer, 1.0), i / max(len(seq) - 1, 1))
            after.setdefault(layer, set())
            if i:
                after[layer].add(seq[i - 1])
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(first_seen):
        ready = [layer for layer in first_seen if layer not in placed and after[layer] <= placed]
        if not ready:  # inconsistent orders (a cycle): place the rest by relative position
            ready = [layer for layer in first_seen if layer not in placed]
        layer = min(ready, key=lambda name: (first_seen[name], name))
        order.append(layer)
        placed.add(layer)
    return order


def gradient_flow_chart(
    grads_df: pd.DataFrame,
    epoch: int | None = None,
    max_lines: int = MAX_GRAD_LINES,
    title: str | None = None,
    report_style: bool = False,
) -> alt.Chart:
    """Mean |grad| of each weight tensor (last batch of the epoch) along the network, log y axis.

    x is the layer label in forward order (`layer_order`); one line per epoch (at most `max_lines`,
    evenly spaced) or only `epoch`. With several runs, colour = run and each (run, epoch) is its own
    line. Zeros cannot sit on a log axis; they are left out (see `zero_gradients`).
    `report_style` draws it as the report's Figures 2, 3 and 5: a linear axis, every epoch, zeros at 0,
    and the last layer labelled as there (`REPORT_LABELS`).
    """
    if report_style:
        max_lines = max(grads_df["epoch"].nunique(), 1)
        grads_df = grads_df.assign(layer=grads_df["layer"].replace(REPORT_LABELS))
    data = _shown(grads_df, epoch, max_lines)
    if not report_style:
        data = data[data["abs_mean_last"] > 0]
    order = layer_order(grads_df)
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
        y=alt.Y(
            "abs_mean_last:Q",
            title="Mean |gradient|",
            scale=alt.Scale(type="linear" if report_style else "log"),
            axis=alt.Axis(format=".1e" if report_style else ".0e"),
        ),
        tooltip=[
            alt.Tooltip("run:N", title="Run"),
            alt.Tooltip("epoch:O", title="Epoch"),
            alt.Tooltip("layer_index:Q", title="Index"),
            alt.Tooltip("layer:N", title="Layer"),
            alt.Tooltip("abs_mean_last:Q", title="Mean |grad|", format=".3e"),
        ],
    )
    if several:
        encodings["color"] = alt.Color("run:N", title="Run", scale=RUNS)
    else:
        # Ordinal, with the drawn epochs as the domain: the legend lists every one of them (at most
        # MAX_GRAD_LINES), none skipped, none in between, in viridis order from the first to the last.
        drawn = sorted(int(e) for e in data["epoch"].unique())
        if len(drawn) <= MAX_GRAD_LINES:
            encodings["color"] = alt.Color("epoch:O", title="Epoch", scale=alt.Scale(scheme="viridis", domain=drawn),
                                           legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2))  # fmt: skip
        else:  # the report's figures draw every epoch: a 100-entry legend would be taller than the chart
            legend = alt.Legend(values=pick_epochs(drawn, 6), format="d")
            encodings["color"] = alt.Color("epoch:Q", title="Epoch", scale=alt.Scale(scheme="viridis"), legend=legend)
    encodings["detail"] = alt.Detail("epoch:O")  # one line per (run, epoch)
    title = title or "Mean |gradient| per layer" + (f", epoch {epoch}" if epoch is not None else "")
    chart = alt.Chart(data.drop(columns=["run_id"]), title=title).mark_line(point=POINTS).encode(**encodings)
    return chart.properties(height=460)  # Streamlit fits all of the chart, vertical labels included, in this


def zero_gradients(grads_df: pd.DataFrame, epoch: int | None = None, max_lines: int = MAX_GRAD_LINES) -> int:
    """How many of the plotted values are exactly zero (and so hidden on the log axis)."""
    return int((_shown(grads_df, epoch, max_lines)["abs_mean_last"] <= 0).sum())


def _shown(grads_df: pd.DataFrame, epoch: int | None, max_lines: int = MAX_GRAD_LINES) -> pd.DataFrame:
    """The rows gradient_flow_chart plots: `epoch` only, or the epochs pick_epochs keeps; with a run label."""
    data = grads_df[["run_id", "epoch", "layer_index", "layer", "abs_mean_last"]].copy()
    data["run"] = legend_names(grads_df)
    if epoch is not None:
        return data[data["epoch"] == epoch]
    return data[data["epoch"].isin(pick_epochs(data["epoch"].tolist(), max_lines))]


def colour_domain(grads_df: pd.DataFrame) -> list[float] | None:
    """[smallest, largest] positive mean |grad| of the rows: one log colour scale shared by several heatmaps,
    so that a run whose gradients vanish looks darker than a healthy one; None without a positive value."""
    positive = grads_df.loc[grads_df["abs_mean_last"] > 0, "abs_mean_last"]
    return [float(positive.min()), float(positive.max())] if len(positive) else None


def gradient_heatmap(
    grads_df: pd.DataFrame, title: str = "", max_epochs: int = HEATMAP_EPOCHS, domain: list[float] | None = None
) -> alt.Chart:
    """One run's mean |grad| (last batch) as a layer x epoch heatmap on a log colour scale: its own, or `domain`
    (`colour_domain` of several runs) to share one scale between heatmaps.

    y = layer in forward order (input at the top), x = epoch (at most `max_epochs`, evenly spaced).
    Exact zeros have no place on a log scale and are left blank.
    """
    order = layer_order(grads_df)
    kept = pick_epochs(grads_df["epoch"].tolist(), max_epochs)
    data = grads_df.loc[grads_df["epoch"].isin(kept), ["epoch", "layer_index", "layer", "abs_mean_last"]]
    data = data[data["abs_mean_last"] > 0]
    thinned = f" ({len(kept)} epochs shown)" if kept and len(kept) < grads_df["epoch"].nunique() else ""
    chart = alt.Chart(data, title=f"{title}{thinned}" if title else alt.Undefined).mark_rect().encode(
        x=alt.X("epoch:O", title="Epoch", axis=alt.Axis(labelOverlap=True, labelAngle=0)),
        y=alt.Y(
            "layer:N", title=None, sort=order, scale=alt.Scale(domain=order),
            axis=alt.Axis(labelLimit=220, labelFontSize=10, labelOverlap=False),
        ),
        color=alt.Color(
            "abs_mean_last:Q", title="Mean |grad|",
            scale=alt.Scale(type="log", scheme="viridis", **({"domain": domain} if domain else {})),
            legend=alt.Legend(format=".0e"),
        ),
        tooltip=[
            alt.Tooltip("epoch:O", title="Epoch"),
            alt.Tooltip("layer:N", title="Layer"),
            alt.Tooltip("abs_mean_last:Q", title="Mean |grad|", format=".3e"),
        ],
    )  # fmt: skip
    # 13 px a layer, every label readable; Streamlit fits title, axes and legend inside this height too.
    return chart.properties(height=13 * len(order) + 130)


def threshold() -> tuple[alt.Chart, alt.Chart]:
    """The dashed rule at VANISHING_RATIO and its label, each with one datum of its own: a mark encoded only
    with constants but given the chart's data is drawn once per row (16 labels over each other)."""
    one = pd.DataFrame({"ratio": [VANISHING_RATIO]})
    at = alt.datum(VANISHING_RATIO)  # a datum, not a field: no axis title of its own in a layered chart
    rule = alt.Chart(one).mark_rule(strokeDash=[4, 4], color="firebrick").encode(y=at)
    label = (
        alt.Chart(one)
        .mark_text(align="left", dx=4, dy=-6, color="firebrick", fontSize=11)
        .encode(x=alt.value(0), y=at, text=alt.value(f"vanishing below {VANISHING_RATIO:g}"))
    )
    return rule, label


def gradient_ratio_chart(ends_df: pd.DataFrame) -> alt.LayerChart:
    """First layer's over last layer's mean |grad| (last batch) per epoch, log y, colour = run; a rule at
    VANISHING_RATIO, below which a run is flagged 'vanishing gradients'. Input: `gradient_ends` frames."""
    data = with_ratio(ends_df)
    data = data[data["ratio"] > 0].assign(run=legend_names(data[data["ratio"] > 0]))
    line = (
        alt.Chart()
        .mark_line(point=POINTS)
        .encode(
            x=alt.X("epoch:Q", title="Epoch", axis=EPOCH_AXIS),
            y=alt.Y(
                "ratio:Q",
                title="Input / last layer mean |grad|",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(format=".0e"),
            ),  # fmt: skip
            color=alt.Color("run:N", title="Run", scale=RUNS),
            tooltip=[
                alt.Tooltip("run:N", title="Run"),
                alt.Tooltip("epoch:Q", title="Epoch"),
                alt.Tooltip("first:Q", title="Input layer", format=".3e"),
                alt.Tooltip("last:Q", title="Last layer", format=".3e"),
                alt.Tooltip("ratio:Q", title="Ratio", format=".3e"),
            ],
        )
    )
    title = "Gradient ratio, input / last layer"
    chart = alt.layer(line, *threshold(), data=data.drop(columns=["run_id"]), title=title)
    return chart.interactive(bind_y=False)
