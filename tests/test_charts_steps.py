"""The per-step chart (dashboard/charts/steps.py): TensorBoard's smoothing, the three x-axes, several runs, and
100 epochs x 50 points built well under a second."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest

from dashboard import charts


def steps_frame(run_id: int = 1, epochs: int = 3, per_epoch: int = 10, every: int = 9) -> pd.DataFrame:
    """What worker.frames.steps_frame returns for a run recording every `every` steps of `every * per_epoch`."""
    rows = [(run_id, (e - 1) * every * per_epoch + k * every, e, 4.6 - 0.01 * (e * per_epoch + k), 1e-3, 0.5 * k + e)
            for e in range(1, epochs + 1) for k in range(1, per_epoch + 1)]  # fmt: skip
    return pd.DataFrame(rows, columns=["run_id", "step", "epoch", "loss", "lr", "seconds"])


def tensorboard_smoothing(values: list[float], weight: float) -> list[float]:
    """TensorBoard's own loop (its scalar dashboard): non-finite values keep the last smoothed value."""
    last, count, out = 0.0, 0, []
    for v in values:
        if not math.isfinite(v):
            out.append(math.nan)
            continue
        last, count = last * weight + (1 - weight) * v, count + 1
        out.append(last / (1 - weight**count))
    return out


@pytest.mark.parametrize("weight", [0.0, 0.6, 0.99])
def test_smoothing_is_tensorboards(weight: float) -> None:
    values = [4.6, 4.2, math.nan, 3.9, math.inf, 3.1, 3.3]
    got = charts.smooth(pd.Series(values), weight).tolist()
    assert got == pytest.approx(tensorboard_smoothing(values, weight), nan_ok=True)


def test_smoothing_outside_the_slider_is_refused() -> None:
    with pytest.raises(ValueError, match="smoothing must be between 0 and 0.99"):
        charts.smooth(pd.Series([1.0]), 1.0)


def chart_data(chart) -> pd.DataFrame:
    spec = chart.to_dict()
    return pd.DataFrame(next(iter(spec["datasets"].values())))


@pytest.mark.parametrize("x", list(charts.X_AXES))
def test_x_axis_is_step_epoch_or_wall_time(x: str) -> None:
    steps = steps_frame()
    data = chart_data(charts.step_chart(steps, x=x))
    expected = {"step": steps["step"], "epoch": steps["step"] / 90, "time": steps["seconds"]}[x]
    assert data["x"].tolist() == pytest.approx(expected.astype(float).tolist())
    if x == "epoch":  # the last point of each epoch sits at that epoch's end
        assert data["x"].iloc[[9, 19, 29]].tolist() == pytest.approx([1.0, 2.0, 3.0])


def test_first_epoch_alone_is_placed_by_its_largest_step() -> None:
    data = chart_data(charts.step_chart(steps_frame(epochs=1), x="epoch"))
    assert data["x"].iloc[-1] == pytest.approx(1.0) and data["x"].iloc[0] == pytest.approx(0.1)


def test_raw_line_under_the_smoothed_one_and_only_one_line_unsmoothed() -> None:
    smoothed = charts.step_chart(steps_frame(), smoothing=0.9).to_dict()
    assert [layer["mark"].get("opacity") for layer in smoothed["layer"]] == [0.25, None]
    assert "smoothed 0.9" in smoothed["title"]
    raw = charts.step_chart(steps_frame(), smoothing=0.0).to_dict()
    assert len(raw["layer"]) == 1 and raw["title"] == "Training loss"


def test_several_runs_overlaid_each_smoothed_alone() -> None:
    both = pd.concat([steps_frame(1), steps_frame(2).assign(loss=1.0)], ignore_index=True)
    data = chart_data(charts.step_chart(both.assign(run=both["run_id"].map({1: "#1 a", 2: "#2 b"})), smoothing=0.9))
    assert set(data["run"]) == {"#1 a", "#2 b"}
    assert (data.loc[data["run"] == "#2 b", "smoothed"] == 1.0).all()  # run 1's losses never leak into run 2's


def test_lr_on_a_log_axis() -> None:
    spec = charts.step_chart(steps_frame(), y="lr").to_dict()
    assert spec["layer"][-1]["encoding"]["y"]["scale"]["type"] == "log"


@pytest.mark.parametrize("n", [100 * 50, 100 * 450])  # the default, and every step of VGG38 (step_every 1)
def test_100_epochs_draw_at_most_altairs_row_limit_in_about_a_second(n: int) -> None:
    steps = pd.DataFrame({"run_id": 1, "step": np.arange(1, n + 1) * 9, "epoch": np.arange(n) // (n // 100) + 1,
                          "loss": np.linspace(4.6, 1.0, n), "lr": 1e-3, "seconds": np.arange(n) * 0.3})  # fmt: skip
    t0 = time.perf_counter()
    spec = charts.step_chart(steps, x="epoch").to_dict()
    # The target is 1 s (bench/steps_storage.py measures it: 0.25-0.6 s at load 16); 2 s leaves room for a loaded
    # machine and still fails a chart that draws every point of a long run.
    assert time.perf_counter() - t0 < 2.0
    drawn = len(next(iter(spec["datasets"].values())))
    assert drawn == n if n <= 5_000 else 4_000 < drawn <= 5_000  # every 10th of 45,000, and the last


def test_many_runs_are_thinned_for_drawing_after_smoothing() -> None:
    runs = pd.concat([steps_frame(r, epochs=100, per_epoch=50).assign(run=f"#{r}") for r in range(1, 8)])
    data = chart_data(charts.step_chart(runs.reset_index(drop=True), smoothing=0.9))
    assert 4_000 < len(data) <= 5_000 and set(data["run"]) == {f"#{r}" for r in range(1, 8)}  # Altair's row limit
    one = data[data["run"] == "#1"]
    assert one["step"].iloc[0] == 9 and one["step"].iloc[-1] == 100 * 50 * 9  # first and last kept
    full = charts.smooth(steps_frame(1, epochs=100, per_epoch=50)["loss"], 0.9)
    assert one["smoothed"].iloc[-1] == pytest.approx(full.iloc[-1])  # smoothed over every point, then thinned
