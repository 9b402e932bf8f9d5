"""worker.progress: progress inside an epoch, the job's StepWriter on a real store (throttled, fenced by status and
job). The progress text, fraction and ETA the pages draw from it: test_dashboard_progress.py."""

from __future__ import annotations

from datetime import UTC, datetime

from vgp_models.config import RunConfig
from vgp_models.metrics import EpochMetrics
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
