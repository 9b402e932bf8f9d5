"""Charts over seeds: mean lines with a band (min..max or ±1 sd) for a config's seeds, and the depth sweep."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboard.charts.gradients import layer_order, threshold
from dashboard.charts.style import EPOCH_AXIS, LINE_LEGEND, POINTS, RUNS, SPLITS
from dashboard.seeds import BAND_LABELS, seed_band

DASHES = alt.Scale(range=[[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [12, 4], [3, 5], [8, 2, 2, 2, 2, 2], [1, 3],
                          [14, 3, 4, 3]])  # fmt: skip
"""Nine distinct dash patterns (solid first): with colour, nine overlapping lines stay apart."""


def band_chart(
    data: pd.DataFrame,
    x: alt.X,
    y_title: str,
    title: str,
    kind: str,
    log: bool = False,
    dash: str | None = None,
) -> alt.LayerChart:
    """Mean lines with a shaded band per series: `data` has series, the x field, mean, lo, hi, n (`seed_band`
    output plus a `series` column) and optionally a `dash` column. The title says what the band is. On a log
    axis a band whose low end is not above zero is left out (the mean line stays)."""
    if log:
        data = data.assign(lo=data["lo"].where(data["lo"] > 0), hi=data["hi"].where(data["lo"] > 0))
    y_scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    y_axis = alt.Axis(format=".0e") if log else alt.Axis()
    colour = alt.Color("series:N", title=None, scale=RUNS, legend=LINE_LEGEND)
    tooltip = [alt.Tooltip("series:N", title="Config"), alt.Tooltip(x.shorthand, title=x.to_dict().get("title")),
               alt.Tooltip("mean:Q", title="Mean", format=".4g"), alt.Tooltip("lo:Q", title="Band low", format=".4g"),
               alt.Tooltip("hi:Q", title="Band high", format=".4g"), alt.Tooltip("n:Q", title="Seeds")]  # fmt: skip
    detail = [alt.Detail(f"{dash}:N")] if dash else []
    # The band's colour has no legend: merged into the line's, its 0.2 opacity made every swatch too pale to tell.
    band_colour = alt.Color("series:N", scale=RUNS, legend=None)
    area = alt.Chart().mark_area(opacity=0.2).encode(x=x, y=alt.Y("lo:Q"), y2="hi:Q", color=band_colour,
                                                     detail=detail)  # fmt: skip
    line = alt.Chart().mark_line(point=POINTS).encode(
        x=x, y=alt.Y("mean:Q", title=y_title, scale=y_scale, axis=y_axis), color=colour, tooltip=tooltip,
        **({"strokeDash": alt.StrokeDash(f"{dash}:N", title=None, legend=LINE_LEGEND, scale=DASHES)} if dash else {}),
    )  # fmt: skip
    return alt.layer(area, line, data=data, title=f"{title} ({BAND_LABELS[kind]})")


def seed_curve_chart(epochs_df: pd.DataFrame, metric: str, kind: str = "minmax") -> alt.LayerChart:
    """Train and validation `metric` ('loss' or 'acc') per epoch, the mean over each config's seeds with a band.
    `epochs_df`: epochs_frame rows plus a `config` column naming each run's seed group."""
    parts = [
        seed_band(epochs_df, ["config", "epoch"], f"{split}_{metric}", kind).assign(split=name)
        for split, name in SPLITS.items()
    ]
    data = pd.concat(parts, ignore_index=True).rename(columns={"config": "series"})
    title, y_title = ("Loss", "Loss") if metric == "loss" else ("Accuracy", "Accuracy (fraction)")
    return band_chart(data, alt.X("epoch:Q", title="Epoch", axis=EPOCH_AXIS), y_title, title, kind, dash="split")


def seed_flow_chart(grads_df: pd.DataFrame, kind: str = "minmax") -> alt.LayerChart:
    """Mean |gradient| per layer (last batch), the mean over each config's seeds with a band, on a log axis.
    `grads_df`: one epoch per run (the caller picks it) plus a `config` column."""
    order = layer_order(grads_df)
    data = seed_band(grads_df[grads_df["abs_mean_last"] > 0], ["config", "layer"], "abs_mean_last", kind)
    x = alt.X("layer:N", title="Layer (forward order)", sort=order, scale=alt.Scale(domain=order),
              axis=alt.Axis(labelAngle=-90, labelLimit=260, labelFontSize=9, labelOverlap=False))  # fmt: skip
    chart = band_chart(data.rename(columns={"config": "series"}), x, "Mean |gradient|", "Mean |gradient| per layer",
                       kind, log=True)  # fmt: skip
    return chart.properties(height=460)


# What a depth sweep's chart can show: sweep_points_frame column -> (y axis title, chart title)
SWEEP_VALUES = {
    "ratio": ("Input / last layer mean |grad|", "Gradient ratio at initialisation"),
    "last_signal_std": ("Std of the last conv's output across the batch", "Forward signal at initialisation"),
}


def sweep_chart(points: pd.DataFrame, kind: str = "minmax", value: str = "ratio") -> alt.LayerChart:
    """A depth sweep: `value` (SWEEP_VALUES: the input / last layer mean |gradient|, or the last conv's forward
    signal) at initialisation against depth, log y, one line per cure (the mean over seeds) with its band.
    `points`: worker.frames.sweep_points_frame; skipped points, and points measured before the signal was, have none."""
    data = seed_band(points[points[value] > 0], ["cure", "depth"], value, kind).rename(columns={"cure": "series"})
    x = alt.X("depth:Q", title="Depth (weight layers)", scale=alt.Scale(zero=False), axis=alt.Axis(format="d"))
    chart = band_chart(data, x, *SWEEP_VALUES[value], kind, log=True, dash="series")  # a colour and dash per cure
    if value != "ratio":
        return chart
    return alt.layer(*chart.layer, *threshold(), data=chart.data, title=chart.title)  # the VANISHING_RATIO flag line
