"""The per-step training curve: loss (or lr) every k steps, TensorBoard-style smoothed, against step, epoch or
wall time; one run or several overlaid.

Input: `worker.frames.steps_frame` output (run_id, step, epoch, loss, lr, seconds), optionally with a `run` name
column. Smoothing is TensorBoard's: an exponential moving average with weight w in [0, 1), debiased at the start
(pandas' adjusted EWM with alpha = 1 - w is exactly that), per run; non-finite losses are skipped by the average and
not drawn. With w > 0 the raw points stay as a faint line under the smoothed one, as in TensorBoard.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from dashboard.charts.style import LINE_LEGEND, RUNS, legend_names

X_AXES = {"step": "Step", "epoch": "Epoch", "time": "Wall time (s)"}
Y_VALUES = {"loss": "Training loss", "lr": "Learning rate"}
MAX_SMOOTHING = 0.99
MAX_POINTS = 5_000  # rows drawn at most: Altair's default limit; a run's 100 epochs x 50 points fit whole


def smooth(values: pd.Series, weight: float) -> pd.Series:
    """TensorBoard's debiased exponential moving average of `values` with `weight` (0: the values themselves)."""
    if not 0.0 <= weight <= MAX_SMOOTHING:
        raise ValueError(f"smoothing must be between 0 and {MAX_SMOOTHING}, got {weight!r}")
    finite = values.astype(float).where(np.isfinite(values.astype(float)))
    return finite.ewm(alpha=1.0 - weight, adjust=True, ignore_na=True).mean().where(finite.notna())


def epoch_position(steps: pd.DataFrame) -> pd.Series:
    """Each point's position in epochs (1.0 = the end of epoch 1). Steps per epoch come from two consecutive epochs'
    first recorded steps (points fall at the same place in every epoch); a run with one epoch so far uses its
    largest step, so its last point sits at the axis' 1."""
    out = pd.Series(0.0, index=steps.index)
    for _, rows in steps.groupby("run_id", sort=False):
        firsts = rows.groupby("epoch")["step"].min()
        gaps = (firsts.diff() / firsts.index.to_series().diff()).dropna()
        per_epoch = float(gaps.median()) if not gaps.empty else float(rows["step"].max())
        out[rows.index] = rows["step"] / max(per_epoch, 1.0)
    return out


def thin(data: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Every k-th point of each run and its last, k the smallest that keeps at most `max_points` in all."""
    if len(data) <= max_points:
        return data
    runs = data["run"].nunique()
    stride = -(-len(data) // max(max_points - 2 * runs, 1))  # room for each run's last point and a partial stride
    position = data.groupby("run", sort=False).cumcount()
    last = position == data.groupby("run", sort=False)["step"].transform("size") - 1
    return data[(position % stride == 0) | last]


def step_chart(
    steps: pd.DataFrame, x: str = "step", smoothing: float = 0.6, y: str = "loss", max_points: int = MAX_POINTS
) -> alt.LayerChart:
    """The training loss (or `y` "lr") per recorded step: colour = run, smoothed line over the faint raw one;
    at most `max_points` drawn, evenly thinned per run after smoothing (the CSV export holds every one)."""
    if x not in X_AXES or y not in Y_VALUES:
        raise ValueError(f"x must be one of {', '.join(X_AXES)} and y one of {', '.join(Y_VALUES)}")
    data = pd.DataFrame({"run": legend_names(steps), "step": steps["step"].astype(int), "epoch": steps["epoch"]})
    data["x"] = {"step": data["step"], "epoch": epoch_position(steps), "time": steps["seconds"]}[x].astype(float)
    data["raw"] = steps[y].astype(float)
    data["smoothed"] = data.groupby("run", sort=False)["raw"].transform(lambda v: smooth(v, smoothing))
    data = thin(data, max_points)
    title = Y_VALUES[y] + (f" (smoothed {smoothing:g})" if smoothing else "")
    base = alt.Chart(data).encode(
        x=alt.X("x:Q", title=X_AXES[x]),
        color=alt.Color("run:N", title="Run", scale=RUNS, legend=LINE_LEGEND),
        detail="run:N",
    )
    tooltip = [alt.Tooltip("run:N", title="Run"), alt.Tooltip("step:Q", title="Step"),
               alt.Tooltip("epoch:Q", title="Epoch"), alt.Tooltip("raw:Q", title=Y_VALUES[y], format=".4g"),
               alt.Tooltip("smoothed:Q", title="Smoothed", format=".4g")]  # fmt: skip
    scale = alt.Scale(zero=False, type="log" if y == "lr" else "linear")
    smoothed = base.mark_line().encode(y=alt.Y("smoothed:Q", title=Y_VALUES[y], scale=scale), tooltip=tooltip)
    if not smoothing:
        return alt.layer(smoothed, title=title).interactive()
    raw = base.mark_line(opacity=0.25).encode(y=alt.Y("raw:Q", title=Y_VALUES[y], scale=scale))
    return alt.layer(raw, smoothed, title=title).interactive()
