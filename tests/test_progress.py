"""Progress inside an epoch: the job's StepWriter on a real store (throttled, fenced by status and job), and the
progress text, fraction and ETA that the Run page and the Runs table draw from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import display, progress, runs_table
from vgp_models.config import RunConfig
from vgp_models.train import EpochMetrics
from worker import db, store
from worker.progress import StepWriter
from worker.schema import Run, RunStatus


def running_run(job_id: str = "job-1") -> int:
    with db.session_scope() as session:
        run_id = store.create_run(session, RunConfig(epochs=3)).id
        store.set_status(session, run_id, RunStatus.RUNNING)
        session.get(Run, run_id).job_id = job_id
    return run_id


def progress_of(run_id: int) -> tuple[int, int | None, datetime | None]:
    with db.session_scope() as session:
        run = session.get(Run, run_id)
        return run.epoch_step, run.epoch_steps, run.epoch_started_at


def test_step_writer_writes_first_last_and_at_most_every_few_seconds(store_url: str) -> None:
    run_id = running_run()
    writer = StepWriter(run_id, "job-1", every_s=3600)
    writer(1, 10)
    step, steps, started = progress_of(run_id)
    assert (step, steps) == (1, 10) and abs((datetime.now(UTC) - started).total_seconds()) < 60
    writer(2, 10)  # within every_s of the last write: skipped
    assert progress_of(run_id) == (1, 10, started)
    writer(10, 10)  # an epoch's last step is always written
    assert progress_of(run_id) == (10, 10, started)
    StepWriter(run_id, "job-1", every_s=0)(4, 10)
    assert progress_of(run_id)[0] == 4
    with db.session_scope() as session:  # a finished epoch starts the count again
        store.record_epoch(session, run_id, EpochMetrics(1, 3, 4.0, 0.1, 4.1, 0.1, 1e-3, 2.0, []))
    assert progress_of(run_id)[0] == 0


def test_step_writer_leaves_a_run_of_another_job_or_not_running_alone(store_url: str) -> None:
    run_id = running_run("job-2")
    StepWriter(run_id, "job-1")(1, 10)
    assert progress_of(run_id) == (0, None, None)
    with db.session_scope() as session:
        store.set_status(session, run_id, RunStatus.CANCELLED)
    StepWriter(run_id, "job-2")(1, 10)
    assert progress_of(run_id) == (0, None, None)


NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def run(done: int = 2, step: int = 0, steps: int | None = None, since_s: float = 0.0, status: str = "running") -> dict:
    started = NOW - timedelta(seconds=since_s) if steps else None
    return dict(id=1, status=status, epochs_done=done, epochs_total=10, epoch_step=step, epoch_steps=steps,
                epoch_started_at=started)  # fmt: skip


def test_progress_inside_the_epoch_before_any_epoch_finished() -> None:
    # 11 steps done after the first, in 22 s: 2 s a step; 89 steps left of this epoch, then 9 epochs of 100 steps.
    fraction, text = progress.bar(run(done=0, step=12, steps=100, since_s=22), [], now=NOW)
    assert fraction == pytest.approx(0.012)
    assert text == f"Epoch 0 of 10 · step 12 of 100 in epoch 1 · ETA {display.fmt_duration(2 * 88 + 9 * 200)}"


def test_progress_inside_a_later_epoch_uses_the_mean_epoch_time_after_it() -> None:
    fraction, text = progress.bar(run(done=2, step=51, steps=100, since_s=100), [150.0, 250.0], now=NOW)
    assert fraction == pytest.approx(0.251)
    assert text.endswith(f"step 51 of 100 in epoch 3 · ETA {display.fmt_duration(2 * 49 + 7 * 200)}")


def test_first_step_alone_gives_no_rate_yet() -> None:
    assert progress.bar(run(done=0, step=1, steps=100), [], now=NOW)[1] == (
        "Epoch 0 of 10 · step 1 of 100 in epoch 1 · ETA after the first epoch")  # fmt: skip
    assert progress.run_eta(run(done=2, step=1, steps=100), 30.0, NOW) == pytest.approx(240.0)


def test_runs_table_shows_the_step_and_its_eta() -> None:
    runs = pd.DataFrame([run(done=2, step=51, steps=100, since_s=100)]).assign(
        name="", label="VGG38", group_name=None, tags=[[]], best_val_acc=None, params=1, device="cpu",
        created_at=NOW)  # fmt: skip
    epochs = pd.DataFrame(dict(run_id=[1, 1], seconds=[150.0, 250.0]))
    etas = progress.eta_seconds(runs, epochs, now=NOW)
    assert etas == {1: pytest.approx(2 * 49 + 7 * 200)}
    table = runs_table.runs_table(runs, etas, pd.Series(dtype=bool), display.fmt_duration)
    assert table["epochs"].tolist() == ["2 / 10 · step 51/100"]
    assert table["progress"].tolist() == [pytest.approx(0.251)]
    assert table["eta"].tolist() == [display.fmt_duration(2 * 49 + 7 * 200)]
    finished = runs.assign(status="completed", epochs_done=10)
    assert runs_table.runs_table(finished, {}, pd.Series(dtype=bool), str)["epochs"].tolist() == ["10 / 10"]
