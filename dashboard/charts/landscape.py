"""Loss landscapes (worker.frames.landscape_points_frame): a 2D grid as a contour plot, a 1D slice as curves.

Altair has no contour mark: a 2D landscape is a heatmap of rectangles, one per grid point, coloured by loss through a
threshold scale whose levels are spaced evenly in log(loss), so that each colour band is the region between two
iso-loss lines (the contour plot of Li et al. with filled levels). Several landscapes share one set of levels, hence
one colour scale, whatever their ranges. Every builder takes a `series` column naming each landscape.
"""

from __future__ import annotations

import math

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts.style import LINE_LEGEND, POINTS, RUNS

LEVELS = 12  # colour bands: iso-loss lines at 13 log-spaced losses
SCHEME = "viridis"  # dark = low loss: the minimum reads as a basin
MIN_LOSS = 1e-6  # the log scale's floor (a loss can be 0 on a memorised toy)


def loss_levels(losses: pd.Series, levels: int = LEVELS) -> list[float]:
    """`levels` + 1 thresholds from the lowest to the highest finite loss, evenly spaced in log: the colour bands'
    edges. Pass every landscape to be compared, so that they share the scale."""
    finite = losses[np.isfinite(losses)].clip(lower=MIN_LOSS)
    if finite.empty:
        return [MIN_LOSS, 1.0]
    low, high = math.log10(finite.min()), math.log10(finite.max())
    if high - low < 1e-9:  # a flat landscape: one band around its value
        low, high = low - 0.01, high + 0.01
    return [float(10**v) for v in np.linspace(low, high, levels + 1)]


def _cells(points: pd.DataFrame) -> pd.DataFrame:
    """Each point with its rectangle's edges (halfway to its neighbours)."""
    step_a = _step(points["alpha"])
    step_b = _step(points["beta"])
    return points.assign(a0=points["alpha"] - step_a / 2, a1=points["alpha"] + step_a / 2,
                         b0=points["beta"] - step_b / 2, b1=points["beta"] + step_b / 2)  # fmt: skip


def _step(values: pd.Series) -> float:
    distinct = np.unique(values.dropna())
    return float(np.min(np.diff(distinct))) if len(distinct) > 1 else 1.0


def contour_chart(points: pd.DataFrame, levels: list[float], title: str = "Loss landscape") -> alt.LayerChart:
    """One 2D landscape (alpha, beta, loss, acc) as filled iso-loss bands on `levels`, the centre marked."""
    colour = alt.Color("loss:Q", title="Train loss", legend=alt.Legend(format=".3g"),
                       scale=alt.Scale(type="threshold", domain=levels[1:-1], scheme=SCHEME))  # fmt: skip
    tooltip = [alt.Tooltip("alpha:Q", format=".2f"), alt.Tooltip("beta:Q", format=".2f"),
               alt.Tooltip("loss:Q", title="Train loss", format=".4g"),
               alt.Tooltip("acc:Q", title="Train accuracy", format=".1%")]  # fmt: skip
    x = alt.X("a0:Q", title="alpha (direction 1)", scale=alt.Scale(nice=False, zero=False))
    y = alt.Y("b0:Q", title="beta (direction 2)", scale=alt.Scale(nice=False, zero=False))
    cells = alt.Chart().mark_rect().encode(x=x, x2="a1:Q", y=y, y2="b1:Q", color=colour, tooltip=tooltip)
    centre = alt.Chart(pd.DataFrame({"alpha": [0.0], "beta": [0.0]})).mark_point(
        shape="cross", color="white", size=80, filled=True
    ).encode(x="alpha:Q", y="beta:Q")  # fmt: skip
    return alt.layer(cells, centre, data=_cells(points)).properties(title=title, width=320, height=300)


def contours_side_by_side(points: pd.DataFrame, levels: list[float] | None = None) -> alt.ConcatChart:
    """Every landscape of `points` (a `series` column names each) side by side, on one colour scale."""
    levels = levels or loss_levels(points["loss"])
    charts = [contour_chart(group, levels, str(name)) for name, group in points.groupby("series", sort=False)]
    return alt.concat(*charts, columns=3).resolve_scale(color="shared")


def curve_chart(points: pd.DataFrame) -> alt.HConcatChart:
    """1D landscapes: train loss (log axis) and train accuracy against alpha, one line per `series`."""
    colour = alt.Color("series:N", title=None, scale=RUNS, legend=LINE_LEGEND)
    x = alt.X("alpha:Q", title="alpha (along the direction)")
    tooltip = [alt.Tooltip("series:N", title="Landscape"), alt.Tooltip("alpha:Q", format=".2f"),
               alt.Tooltip("loss:Q", title="Train loss", format=".4g"),
               alt.Tooltip("acc:Q", title="Train accuracy", format=".1%")]  # fmt: skip
    base = alt.Chart(points.assign(loss=points["loss"].clip(lower=MIN_LOSS))).mark_line(point=POINTS)
    loss = base.encode(x=x, y=alt.Y("loss:Q", title="Train loss", scale=alt.Scale(type="log")), color=colour,
                       tooltip=tooltip).properties(title="Train loss along the direction")  # fmt: skip
    acc = base.encode(x=x, y=alt.Y("acc:Q", title="Train accuracy", axis=alt.Axis(format="%")), color=colour,
                      tooltip=tooltip).properties(title="Train accuracy along the direction")  # fmt: skip
    return alt.hconcat(loss, acc)
