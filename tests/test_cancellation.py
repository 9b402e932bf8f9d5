"""worker.cancellation: cancelling a queued run (its job leaves the queue) and a running one (runs.cancel_requested_at,
which its job reads with its progress writes), in this process on real Redis and the test database. Cancel is a
database write: a running job is cancelled while Redis is unreachable; and a Cancel asked of an earlier job of a run
never stops the run once it is resumed.

A job deaf to its Cancel is stopped by the worker process: test_runner.py.
"""

from __future__ import annotations

import threading

import pytest

from tests.env_support import DEAD_REDIS_URL
from tests.reliability_support import run_row, wait_for, work_in_process
from tests.run_support import tiny
from vgp_models.config import RunConfig
from worker import cancellation, db, jobs, queue, store, submission
from worker.schema import RunStatus

TINY = tiny()


def test_cancel_a_queued_run(redis_env: dict) -> None:
    run_id = submission.submit_run(TINY)
    assert cancellation.cancel_run(run_id) is RunStatus.CANCELLED
    assert run_row(run_id).job_id not in queue.get_queue().job_ids
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED and run.started_at is None and run.finished_at is not None
    assert cancellation.cancel_run(run_id) is RunStatus.CANCELLED  # cancelling again changes nothing


def test_cancel_a_running_job_while_redis_is_unreachable(redis_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = submission.submit_run(RunConfig(depth=8, width=8, epochs=200, subset=64, batch_size=32, device="cpu"))
    job = threading.Thread(target=jobs.train_run, args=(run_id,), daemon=True)  # the job, as a work horse runs it
    job.start()
    wait_for(lambda: run_row(run_id).epochs_done >= 1, 60, what="the job to record an epoch")
    monkeypatch.setenv("REDIS_URL", DEAD_REDIS_URL)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    assert cancellation.cancel_requested(run_id)
    job.join(timeout=60)
    assert not job.is_alive(), "the job did not stop on its Cancel"
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED and run.reason.startswith("cancelled during epoch"), run.reason
    assert run.epochs_done < 200
    assert not cancellation.cancel_requested(run_id)  # cleared as the run left running


def test_an_old_cancel_does_not_stop_the_resumed_run(redis_env: dict) -> None:
    run_id = submission.submit_run(TINY)
    with db.session_scope() as s:  # as if a worker had started it
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    with db.session_scope() as s:  # its process died before it saw the request: cancelled, never resumed by itself
        assert store.interrupt_run(s, run_id, [RunStatus.RUNNING], "the worker's training process died", None)
    assert run_row(run_id).status is RunStatus.CANCELLED
    submission.resume_run(run_id)  # by hand
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED and run.epochs_done == TINY.epochs, run.reason
