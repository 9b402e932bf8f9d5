"""A chart drawn to a file: its Vega-Lite spec with the data inline, and PNG or SVG bytes (vl-convert)."""

from __future__ import annotations

import json

import altair as alt
import pandas as pd

EXPORT_WIDTH = 760  # px: a chart drawn to a file has no Streamlit container to stretch to


def _inline(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """A copy whose DataFrames are inline JSON values: independent of Altair's global data transformer,
    which Streamlit swaps while it draws."""
    chart = chart.copy(deep=True)
    stack = [chart]
    while stack:
        node = stack.pop()
        data = getattr(node, "data", alt.Undefined)
        if isinstance(data, pd.DataFrame):
            # double_precision 15: at pandas' default of 10 a value between 1e-16 and 1e-10 (a vanishing
            # gradient, a weight that barely moved) is written as 0.0, which a log axis cannot draw.
            records = data.to_json(orient="records", date_format="iso", double_precision=15)
            node.data = alt.Data(values=json.loads(records))
        for part in ("layer", "hconcat", "vconcat", "concat"):
            stack.extend(getattr(node, part, None) or [])
    return chart


def chart_spec(chart: alt.TopLevelMixin, width: int = EXPORT_WIDTH) -> dict:
    """The chart's Vega-Lite spec with its data inline and a fixed width, fit for a file."""
    return _inline(chart).properties(width=width).to_dict(validate=False)


def chart_image(chart: alt.TopLevelMixin, fmt: str, width: int = EXPORT_WIDTH) -> bytes:
    """The chart drawn to PNG (2x scale) or SVG bytes with vl-convert."""
    import vl_convert

    spec = chart_spec(chart, width)
    if fmt == "svg":
        return vl_convert.vegalite_to_svg(spec).encode()
    if fmt == "png":
        return vl_convert.vegalite_to_png(spec, scale=2)
    raise ValueError(f"format must be png or svg, got {fmt!r}")
