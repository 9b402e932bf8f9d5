"""What every chart shares: hues per run, whole-epoch axes, small points, line legends, the legend's run name."""

from __future__ import annotations

import altair as alt
import pandas as pd

from worker.frames import run_title

SPLITS = {"train": "Train", "val": "Validation"}
RUNS = alt.Scale(scheme="tableau10")  # distinct hues per run (Streamlit's theme would give shades of blue)
EPOCH_AXIS = alt.Axis(tickMinStep=1, format="d")  # whole epochs, also when there is only one
POINTS = alt.OverlayMarkDef(size=16)  # small: 100 epochs of points should not hide the line
LINE_LEGEND = alt.Legend(symbolType="stroke", symbolStrokeWidth=2)  # legend entries drawn as (dashed) lines


def legend_names(df: pd.DataFrame) -> pd.Series:
    """Each row's run in legends: the `run` column the caller named runs with (the runs frame's `title`), else
    the bare run_title of its id ('#12')."""
    if "run" in df.columns:
        return df["run"].astype(str)
    return df["run_id"].map({run_id: run_title(run_id) for run_id in df["run_id"].unique()})  # once per run
