"""worker.progress: progress inside an epoch, the job's StepWriter on a real store (throttled, fenced by status and
job). The progress text, fraction and ETA the pages draw from it: test_dashboard_progress.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from tests.run_support import epoch_metrics
from vgp_models.config import RunConfig
from vgp_models.metrics import StepPoint
from worker import db, frames, store
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
        store.record_epoch(session, run_id, epoch_metrics(1, 3, seconds=2.0))
    assert progress_of(run_id)[0] == 0


def test_step_writer_leaves_a_run_of_another_job_or_not_running_alone(store_url: str) -> None:
    run_id = running_run("job-2")
    StepWriter(run_id, "job-1")(1, 10)
    assert progress_of(run_id) == (0, None, None)
    with db.session_scope() as session:
        store.set_status(session, run_id, RunStatus.CANCELLED)
    StepWriter(run_id, "job-2")(1, 10)
    assert progress_of(run_id) == (0, None, None)


def steps_of(run_id: int) -> list[tuple[int, float]]:
    with db.session_scope() as session:
        return [(int(r.step), r.loss) for r in frames.steps_frame(session, [run_id]).itertuples()]


def test_step_writer_writes_the_points_read_since_its_last_write(store_url: str) -> None:
    """Points arrive at the loop's sync points; they go to the store with the next progress write (throttled), only
    while the run is this job's, and the epoch's own write of the same steps replaces them (no duplicates)."""
    run_id = running_run()
    writer = StepWriter(run_id, "job-1", every_s=3600)
    writer(1, 4)
    writer.on_points([StepPoint(1, 1, 4.6, 1e-3, 0.5), StepPoint(2, 1, float("nan"), 1e-3, 1.0)])
    writer(2, 4)  # throttled: nothing written, points kept
    assert steps_of(run_id) == []
    writer(4, 4)  # an epoch's last step is always written
    assert [step for step, _ in steps_of(run_id)] == [1, 2] and steps_of(run_id)[0][1] == 4.6
    assert math.isnan(steps_of(run_id)[1][1])  # a non-finite loss is kept as NaN: the divergence signal
    writer.on_points([StepPoint(3, 1, 4.4, 1e-3, 1.5)])
    writer(1, 4)
    assert [step for step, _ in steps_of(run_id)] == [1, 2, 3]
    with db.session_scope() as session:
        points = [StepPoint(s, 1, 4.0, 1e-3, 0.1 * s) for s in (1, 2, 3, 4)]
        store.record_epoch(session, run_id, epoch_metrics(1, 3, seconds=2.0, steps=points))
    assert steps_of(run_id) == [(1, 4.0), (2, 4.0), (3, 4.0), (4, 4.0)]
    other = StepWriter(run_id, "job-2", every_s=0)  # a job the run no longer belongs to writes nothing
    other.on_points([StepPoint(9, 2, 1.0, 1e-3, 9.0)])
    other(1, 4)
    assert [step for step, _ in steps_of(run_id)] == [1, 2, 3, 4]
