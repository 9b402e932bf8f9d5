"""The per-step training curve as the Run and Compare pages draw it: x-axis and smoothing controls, the chart, its
PNG/SVG downloads. Live: the pages' fragments call it again on every refresh, with the points read since."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, downloads


def per_step(key: str, steps: pd.DataFrame) -> None:
    """The training loss every k steps of one run, or several overlaid (a `run` name column), smoothed as the slider
    says; `key` keeps each page's controls apart."""
    st.subheader("Training loss per step", anchor=False)
    if steps.empty:
        st.caption("Points appear within seconds of the first steps (about 50 an epoch; the run setting step_every).")
        return
    left, right = st.columns([1, 2], vertical_alignment="bottom")
    x = left.segmented_control("X axis", list(charts.X_AXES), format_func=charts.X_AXES.get, default="step",
                               required=True, key=f"{key}-x")  # fmt: skip
    weight = right.slider("Smoothing", 0.0, charts.MAX_SMOOTHING, 0.6, 0.01, key=f"{key}-smoothing",
                          help="TensorBoard's exponential moving average; 0 = the raw points")  # fmt: skip
    downloads.chart_with_buttons(charts.step_chart(steps, x, weight), f"{key}-steps", f"{key}-steps")
