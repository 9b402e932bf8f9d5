"""Why it vanishes: the forward signal per layer output, each weight's relative update over an epoch, and the
gain per layer, drawn as the gradient flow is: along the network (every epoch overlaid, or one), and as a
layer x epoch heatmap. Inputs: `worker.frames.signals_frame`, `gradients_frame` (weight_norm, update_ratio) and
`dashboard.gains.layer_gains`.
"""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from dashboard.charts.gradients import HEATMAP_EPOCHS, MAX_GRAD_LINES, layer_order, pick_epochs
from dashboard.charts.style import RUNS, legend_names

ZERO_FLOOR_DECADES = 1  # an exact zero on a log axis sits a decade below the smallest positive value
HEATMAP_CELLS = 4_900  # under Altair's 5,000-row inline limit: a 111-output VGG38 BN+RC shows 44 epochs

# column -> (axis title, log scale, number format): what each per-layer statistic is called and drawn on
STATISTICS = {
    "std": ("Std across the batch", True, ".0e"),
    "mean": ("Mean", False, ".2f"),
    "negative_share": ("Share of pre-activations < 0", False, ".0%"),
    "update_ratio": ("||w_end - w_start|| / ||w_start||", True, ".0e"),
    "weight_norm": ("||w||", True, ".1e"),
    "gain": ("Gain (mean |grad| / next layer's)", True, "~g"),
}
SIGNAL_STATISTICS = ("std", "mean", "negative_share")


def _drawable(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows a chart of `column` can draw: finite ones, and on a log scale not negative. Their value to
    plot is `shown`: the value itself, or for an exact zero on a log scale (a weight that did not move at all,
    an output that no longer varies) ZERO_FLOOR_DECADES below the smallest positive value, flagged `zero`."""
    values = frame[column]
    data = frame[values.notna() & values.abs().lt(float("inf"))]
    if not STATISTICS[column][1]:
        return data.assign(shown=data[column], zero=False)
    data = data[data[column] >= 0].assign(zero=lambda d: d[column] == 0)
    positive = data.loc[~data["zero"], column]
    floor = 10.0 ** (math.floor(math.log10(positive.min())) - ZERO_FLOOR_DECADES) if len(positive) else 1e-12
    return data.assign(shown=data[column].where(~data["zero"], floor))


def _zero_note(data: pd.DataFrame) -> str:
    return " (▼ exact zero, drawn at the axis floor)" if data["zero"].any() else ""


def per_layer_chart(frame: pd.DataFrame, column: str, epoch: int | None = None, title: str | None = None,
                    rule: float | None = None, max_lines: int = MAX_GRAD_LINES) -> alt.LayerChart:  # fmt: skip
    """`column` of each layer along the network: one line per epoch (at most `max_lines`, evenly spaced) or
    only `epoch`; with several runs, colour = run. Exact zeros on a log axis are ▼ at its floor. A dashed rule
    at `rule` (e.g. a gain of 1)."""
    axis_title, log, fmt = STATISTICS[column]
    data = frame.assign(run=legend_names(frame))
    kept = [epoch] if epoch is not None else pick_epochs(data["epoch"].tolist(), max_lines)
    data = _drawable(data[data["epoch"].isin(kept)], column)[["run", "epoch", "layer_index", "layer", column,
                                                                 "shown", "zero"]]  # fmt: skip
    order = layer_order(frame)
    if data["run"].nunique() > 1:
        color = alt.Color("run:N", title="Run", scale=RUNS)
    else:
        legend = alt.Legend(values=pick_epochs(data["epoch"].tolist(), 6), format="d")
        color = alt.Color("epoch:Q", title="Epoch", scale=alt.Scale(scheme="viridis"), legend=legend)
    base = alt.Chart(data).encode(
        x=alt.X("layer:N", title="Layer (forward order)", sort=order, scale=alt.Scale(domain=order),
                axis=alt.Axis(labelAngle=-90, labelLimit=260, labelFontSize=9, labelOverlap=False)),
        y=alt.Y("shown:Q", title=axis_title, scale=alt.Scale(type="log" if log else "linear"),
                axis=alt.Axis(format=fmt)),
        color=color,
        detail=alt.Detail("epoch:O"),
    )  # fmt: skip
    tooltip = [
        alt.Tooltip("run:N", title="Run"),
        alt.Tooltip("epoch:O", title="Epoch"),
        alt.Tooltip("layer:N", title="Layer"),
        alt.Tooltip(f"{column}:Q", title=axis_title, format=".3e"),
    ]
    zero_or_not = [False, True]
    points = base.mark_point(filled=True).encode(
        shape=alt.Shape("zero:N", scale=alt.Scale(domain=zero_or_not, range=["circle", "triangle-down"]), legend=None),
        size=alt.Size("zero:N", scale=alt.Scale(domain=zero_or_not, range=[16, 70]), legend=None),
        tooltip=tooltip,
    )
    layers = [base.mark_line(), points]
    if rule is not None:
        layers.append(alt.Chart().mark_rule(strokeDash=[4, 4], color="firebrick").encode(y=alt.datum(rule)))
    default = f"{axis_title} per layer" + (f", epoch {epoch}" if epoch is not None else "")
    return alt.layer(*layers, title=(title or default) + _zero_note(data)).properties(height=460)


def layer_heatmap(frame: pd.DataFrame, column: str, title: str = "",
                  max_epochs: int = HEATMAP_EPOCHS) -> alt.LayerChart:  # fmt: skip
    """One run's `column` as a layer x epoch heatmap (input at the top), at most `max_epochs` epochs and
    HEATMAP_CELLS cells, evenly spaced; on a log colour scale where the statistic is drawn on one, with exact
    zeros in grey."""
    axis_title, log, fmt = STATISTICS[column]
    order = layer_order(frame)
    limit = max(1, min(max_epochs, HEATMAP_CELLS // max(len(order), 1)))
    kept = pick_epochs(frame["epoch"].tolist(), limit)
    data = _drawable(frame[frame["epoch"].isin(kept)], column)[["epoch", "layer", column, "zero"]]
    thinned = f" ({len(kept)} epochs shown)" if len(kept) < frame["epoch"].nunique() else ""
    scale = alt.Scale(type="log", scheme="viridis") if log else alt.Scale(scheme="viridis")
    base = alt.Chart(data).encode(
        x=alt.X("epoch:O", title="Epoch", axis=alt.Axis(labelOverlap=True, labelAngle=0)),
        y=alt.Y("layer:N", title=None, sort=order, scale=alt.Scale(domain=order),
                axis=alt.Axis(labelLimit=220, labelFontSize=10, labelOverlap=False)),
        tooltip=[alt.Tooltip("epoch:O", title="Epoch"), alt.Tooltip("layer:N", title="Layer"),
                 alt.Tooltip(f"{column}:Q", title=axis_title, format=".3e")],
    )  # fmt: skip
    cells = (
        base.transform_filter(~alt.datum.zero)
        .mark_rect()
        .encode(color=alt.Color(f"{column}:Q", title=axis_title, scale=scale, legend=alt.Legend(format=fmt)))
    )
    zeros = base.transform_filter(alt.datum.zero).mark_rect(color="lightgrey")
    zeros_note = " (grey: exactly 0)" if data["zero"].any() else ""
    heading = f"{title or axis_title + ', layer x epoch'}{thinned}{zeros_note}"
    chart = alt.layer(cells, zeros, title=heading)
    return chart.properties(height=13 * len(order) + 130)


def gain_chart(gains: pd.DataFrame, epoch: int | None = None, title: str | None = None) -> alt.LayerChart:
    """The gain per layer (dashboard.gains.layer_gains) along the network, log axis, with a rule at 1."""
    return per_layer_chart(gains, "gain", epoch, title, rule=1.0)


def latest_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Each run's rows at its own latest epoch: what Compare draws several runs at."""
    return frame[frame["epoch"] == frame.groupby("run_id")["epoch"].transform("max")]
