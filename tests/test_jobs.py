"""worker.jobs: the job a worker runs for a run, in this process on real Redis (database 15, a unique queue) and the
test database (a SQLite file, and a Postgres one): a tiny run trained to completion with its
metrics and checkpoint rows, missing data, an unknown run id, a broken stored config, the throttled Cancel read
(with the progress write) and a database outage that does not stop training,
and an old job of a run queued again that may no longer touch it.

Runs are tiny (depth 8, width 8, subset 64, batch 32) so that a test trains in about a second on a CPU.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from tests.reliability_support import run_row, work_in_process
from tests.run_support import tiny
from vgp_models.gradstats import weight_parameters
from vgp_models.train import build_model
from worker import cancellation, connection, db, frames, queue, rq_jobs, runner, store, submission
from worker.jobs import StopPoller
from worker.progress import StepWriter
from worker.rq_jobs import callbacks
from worker.schema import CheckpointRow, RunStatus
from worker.store import RunMeta

TINY = tiny()


def stored_frames(run_id: int) -> tuple:
    with db.session_scope() as s:
        return frames.epochs_frame(s, [run_id]), frames.gradients_frame(s, [run_id])


def test_submit_then_work_completes(redis_env: dict, tmp_path: Path) -> None:
    run_id = submission.submit_run(TINY, RunMeta(name="e2e", group="tests", tags=["tiny"]))
    assert run_row(run_id).status is RunStatus.QUEUED
    work_in_process()

    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert run.epochs_done == TINY.epochs and run.test_acc is not None and run.test_loss is not None
    assert run.best_epoch in (1, 2) and run.best_val_acc is not None
    assert run.params and run.params > 0 and run.device == "cpu"
    assert run.started_at and run.finished_at and run.worker_name and run.job_id
    epochs, grads = stored_frames(run_id)
    layers = len(weight_parameters(build_model(TINY)))
    assert len(epochs) == TINY.epochs
    assert len(grads) == TINY.epochs * layers
    assert ((epochs["train_acc"] >= 0) & (epochs["train_acc"] <= 1)).all()
    with db.session_scope() as s:  # per-step rows: 2 steps an epoch (64 images, batch 32), every one recorded
        steps = frames.steps_frame(s, [run_id])
    assert steps["step"].tolist() == [1, 2, 3, 4] and steps["epoch"].tolist() == [1, 1, 2, 2]
    assert steps["loss"].notna().all() and (steps["seconds"] > 0).all()
    with db.session_scope() as s:  # checkpoints live in the database; a completed run keeps only `best`
        kept = [(c.kind, c.epoch) for c in s.scalars(select(CheckpointRow).where(CheckpointRow.run_id == run_id))]
    assert kept == [("best", run.best_epoch)]
    assert not (tmp_path / "checkpoints").exists()  # nothing on the worker's disk


def test_missing_data_fails_with_the_location(redis_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("VGP_DATA_DIR", str(missing))
    run_id = submission.submit_run(TINY)
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.FAILED
    assert run.reason and str(missing) in run.reason and run.reason.startswith("DataError: ")
    assert "\n" not in run.reason
    assert stored_frames(run_id)[0].empty


def test_unknown_run_id_does_not_crash_the_worker(redis_env: dict) -> None:
    job = queue.get_queue().enqueue(rq_jobs.JOB_FUNCTION, 987654)
    after = submission.submit_run(TINY)  # the worker goes on to the next job
    work_in_process()
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "missing"
    assert run_row(after).status is RunStatus.COMPLETED


def test_bad_stored_config_fails_cleanly(redis_env: dict) -> None:
    with db.session_scope() as s:
        run = store.create_run(s, TINY)
        run.config = {**TINY.to_dict(), "depth": 9}
        run_id = run.id
    queue.enqueue_run(run_id)
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.FAILED
    assert run.reason is not None and run.reason.startswith("invalid stored config: ConfigError: depth must be")


def running(run_id: int) -> int:
    with db.session_scope() as s:  # as if a worker had started it
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    return run_id


def test_a_cancel_is_read_with_the_progress_write_at_most_every_interval(redis_env: dict) -> None:
    run_id = running(submission.submit_run(TINY))
    progress = StepWriter(run_id, every_s=0.3)
    should_stop = StopPoller(run_id, progress, heartbeat_s=3600)
    steps = 1_000_000  # an epoch's first and last steps are always written
    progress(1, steps)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    for step in range(2, 1000):  # within the interval: no write, so no read, so no stop yet
        assert not should_stop()
        progress(step, steps)
    time.sleep(0.35)
    progress(1000, steps)
    assert should_stop() and should_stop()  # read with the write, then remembered


def test_a_database_outage_while_training_neither_stops_it_nor_costs_every_step(
    redis_env: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    run_id = running(submission.submit_run(TINY))
    progress = StepWriter(run_id, every_s=0.0)
    should_stop = StopPoller(run_id, progress, heartbeat_s=0.0)
    url = os.environ["DATABASE_URL"]
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")  # refused
    started = time.monotonic()
    for step in range(1, 51):
        assert not should_stop()
        progress(step, 50)
    elapsed = time.monotonic() - started
    written = [r for r in caplog.records if "progress not written" in r.getMessage()]
    # It backs off: 1 s, doubling up to WRITE_BACKOFF_MAX_S, so one attempt in the first second and then one at
    # 1, 3, 7... s (a loaded machine may take over a second for the 50 steps, each failing its heartbeat).
    assert 1 <= len(written) <= 1 + math.floor(math.log2(1 + elapsed))
    monkeypatch.setenv("DATABASE_URL", url)
    time.sleep(2 ** (len(written) - 1) + 0.05)  # the interval after the last failed attempt
    progress(1, 50)  # the database is back: the next write lands
    assert run_row(run_id).epoch_step == 1


def test_a_written_off_job_cannot_touch_its_run_again(redis_env: dict) -> None:
    """An old job of a run queued again (interrupted, resumed) neither fails it, nor trains it, nor finishes it."""
    from rq.exceptions import AbandonedJobError

    with db.session_scope() as s:
        run_id = store.create_run(s, tiny()).id
    old_job = Job.fetch(queue.enqueue_run(run_id), connection=connection.get_redis(), serializer=JSONSerializer)
    new_job_id = queue.enqueue_run(run_id)  # e.g. reconcile re-enqueued it while the old one was in flight
    callbacks.on_job_failure(old_job, connection.get_redis(), AbandonedJobError, AbandonedJobError(), None)
    callbacks.on_work_horse_killed(old_job, 1234, 9, None)
    assert run_row(run_id).status is RunStatus.QUEUED

    runner.make_worker(burst_in_process=True).work(burst=True)  # runs both jobs, the old one first
    old = Job.fetch(old_job.id, connection=connection.get_redis(), serializer=JSONSerializer)
    assert old.return_value() == "skipped"
    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED and run.job_id == new_job_id
