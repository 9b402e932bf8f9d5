"""Per-step curves on the pages (AppTest): the Run page
draws a running run's points and moves when more arrive within the epoch (written by the job's progress writer or
a tracked run's sink), and shows a new epoch on its next refresh, whatever its reads cache; its smoothing slider
and x-axis; Compare overlays several runs; the steps CSV holds every point."""

from __future__ import annotations

import io
import time

import pandas as pd
import pyarrow as pa
import pytest
from torch import nn

from dashboard import downloads
from tests.dashboard_support import add_run, open_page
from tests.run_support import epoch_metrics
from tests.track_support import batches, tiny_model
from vgp_models.config import RunConfig
from vgp_models.metrics import StepPoint
from vgp_models.track import Run
from worker import db, frames, store
from worker.progress import StepWriter
from worker.schema import RunStatus
from worker.tracking import DatabaseSink

pytestmark = pytest.mark.pages  # SQLite only: see tests/conftest.py


def add_steps(run_id: int, steps: range, epoch: int = 1) -> None:
    with db.session_scope() as session:
        points = [StepPoint(s, epoch, 4.6 - 0.001 * s, 1e-3, 0.3 * s) for s in steps]
        store.record_steps(session, run_id, points)


def job_writes_steps(run_id: int, steps: range) -> None:
    """Points as a training job writes them: with its progress (worker.progress.StepWriter)."""
    writer = StepWriter(run_id, every_s=0)
    writer.on_points([StepPoint(s, 1, 4.6 - 0.001 * s, 1e-3, 0.3 * s) for s in steps])
    writer(steps[-1], 1000)


def chart_data(chart) -> pd.DataFrame:
    """The rows behind a chart: Streamlit sends them as Arrow beside the spec."""
    return pd.concat([pa.ipc.open_stream(d.data.data).read_pandas() for d in chart.proto.datasets])


def step_chart_rows(at) -> int:
    """Rows behind the per-step chart: the only chart on a page without epochs."""
    (chart,) = at.get("vega_lite_chart")
    return len(chart_data(chart))


def running_run() -> int:
    """A run in its first epoch: no epoch recorded yet."""
    with db.session_scope() as session:
        run_id = store.create_run(session, RunConfig(epochs=3, subset=64)).id
        store.set_status(session, run_id, RunStatus.RUNNING)
    return run_id


def test_run_page_draws_a_running_runs_steps_and_moves_within_the_epoch(env):
    run_id = running_run()
    at = open_page("views/run.py", run=run_id)
    assert any("Points appear within seconds" in c.value for c in at.caption)
    job_writes_steps(run_id, range(9, 90, 9))  # the first epoch's first points
    at.run()
    assert not at.exception and step_chart_rows(at) == 9
    job_writes_steps(run_id, range(99, 200, 9))
    at.run()  # the page's live fragment redraws like this every second
    assert step_chart_rows(at) == 9 + 12
    at.slider(key=f"run-{run_id}-smoothing").set_value(0.95).run()
    at.segmented_control(key=f"run-{run_id}-x").set_value("time").run()
    assert not at.exception
    assert "Wall time (s)" in at.get("vega_lite_chart")[0].proto.spec
    assert "smoothed 0.95" in at.get("vega_lite_chart")[0].proto.spec


def test_run_page_shows_a_live_runs_new_epoch_on_its_next_refresh(env):
    run_id = running_run()
    at = open_page("views/run.py", run=run_id)
    assert any("No epoch has finished yet" in i.value for i in at.info)
    at.run()  # the page's reads are cached now
    with db.session_scope() as session:
        first = epoch_metrics(1, 3, train_loss=4.5, train_acc=0.02, val_loss=4.55, val_acc=0.03, seconds=1.5)
        store.record_epoch(session, run_id, first)
    at.run()
    assert not at.exception and not any("No epoch has finished yet" in i.value for i in at.info)
    assert at.metric[0].value == "3.00%"  # best val acc, epoch 1


def test_run_page_follows_a_tracked_runs_steps(env):
    """A tracked run's sink writes its points on its own beat (worker.tracking): the page sees them too."""
    sink, model = DatabaseSink(env["DATABASE_URL"], poll_s=0.05), tiny_model()

    def steps_written(run: Run, n: int, written: int) -> None:
        for x, y in batches(n):
            nn.functional.cross_entropy(model(x), y).backward()
            run.step(loss=1.0)
            model.zero_grad()
        deadline = time.monotonic() + 10
        while step_rows(sink.run_id) < written and time.monotonic() < deadline:
            time.sleep(0.05)

    with Run("tracked live", sink=sink, every=1) as run:
        run.watch(model)
        steps_written(run, 3, 3)
        at = open_page("views/run.py", run=sink.run_id)
        assert step_chart_rows(at) == 3
        steps_written(run, 4, 7)
        at.run()
        assert not at.exception and step_chart_rows(at) == 7


def step_rows(run_id: int | None) -> int:
    if run_id is None:
        return 0
    with db.session_scope() as session:
        return len(frames.steps_frame(session, [run_id]))


def test_compare_overlays_runs_and_the_csv_holds_every_step(env):
    a, b = add_run(), add_run(preset="vgg38")
    add_steps(a, range(1, 51))
    add_steps(b, range(1, 31))
    at = open_page("views/compare.py")
    at.multiselect(key="compare_runs").set_value([a, b]).run()
    assert not at.exception
    chart = at.get("vega_lite_chart")[0]  # first on the page, above the epochs' curves
    assert "Training loss" in chart.proto.spec
    assert chart_data(chart).groupby("run").size().to_dict() == {
        f"#{a} =not-a-formula · VGG08 lr 1e-3 · 3 epochs · 64 images": 50,
        f"#{b} =not-a-formula · VGG38 lr 1e-3 · 3 epochs · 64 images": 30,
    }  # fmt: skip
    csv = pd.read_csv(io.StringIO(downloads.export_csv([a, b], "steps")))
    assert list(csv.columns) == ["run_id", "run", "step", "epoch", "loss", "lr", "seconds"]
    assert csv.groupby("run_id").size().to_dict() == {a: 50, b: 30}


def test_run_page_draws_100_epochs_of_50_points_in_under_a_second(env):
    run_id = add_run(epochs=1)
    with db.session_scope() as session:
        points = [StepPoint(9 * k, k // 50 + 1, 4.6 - k * 1e-4, 1e-3, 0.3 * k) for k in range(1, 5001)]
        store.record_steps(session, run_id, points)
    at = open_page("views/run.py", run=run_id)
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    assert not at.exception
    assert any('"Training loss' in c.proto.spec for c in at.get("vega_lite_chart"))
    assert seconds < 5.0, seconds  # the whole page with 5,000 points (bench/steps_storage.py times the chart)
