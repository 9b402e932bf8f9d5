"""Altair chart builders: plain functions of the store's frames, testable without Streamlit.

Inputs are `worker.frames.epochs_frame` / `gradients_frame` output. An optional `run` column (the runs frame's
`title`) names each run in legends; without it the run id is used. One module per kind of chart, re-exported
here: callers import the package (`from dashboard import charts; charts.loss_chart(...)`), never a module of it.
"""

from dashboard.charts.bands import seed_curve_chart, seed_flow_chart, sweep_chart
from dashboard.charts.compare import compare_charts
from dashboard.charts.curves import accuracy_chart, loss_chart, results_chart
from dashboard.charts.export import EXPORT_WIDTH, chart_image, chart_spec
from dashboard.charts.gradients import (
    HEATMAP_EPOCHS,
    LAYER_KINDS,
    MAX_GRAD_LINES,
    colour_domain,
    gradient_flow_chart,
    gradient_heatmap,
    gradient_ratio_chart,
    layer_order,
    layers_of_kind,
    pick_epochs,
    zero_gradients,
)
from dashboard.charts.landscape import contour_chart, contours_side_by_side, curve_chart, loss_levels
from dashboard.charts.signals import HEATMAP_CELLS, gain_chart, latest_rows, layer_heatmap, per_layer_chart
from dashboard.charts.steps import MAX_SMOOTHING, X_AXES, smooth, step_chart

__all__ = [
"accuracy_chart", "chart_image", "chart_spec", "colour_domain", "compare_charts", "contour_chart",
"contours_side_by_side", "curve_chart", "EXPORT_WIDTH", "gain_chart", "gradient_flow_chart", "gradient_heatmap",
"gradient_ratio_chart", "HEATMAP_CELLS", "HEATMAP_EPOCHS", "latest_rows", "layer_heatmap", "LAYER_KINDS",
"layer_order", "layers_of_kind", "loss_chart", "loss_levels", "MAX_GRAD_LINES", "MAX_SMOOTHING", "per_layer_chart",
"pick_epochs", "results_chart", "seed_curve_chart", "seed_flow_chart", "smooth", "step_chart", "sweep_chart",
"X_AXES", "zero_gradients",
]  # fmt: skip
