"""Misbehaving jobs against a real forking worker process: a job deaf to its cancel flag is stopped with RQ's
stop-job command after the grace period, and failing or dying jobs never stop the worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.reliability_support import (
    WorkerProcess,
    dying_job,
    enqueue_stub,
    epochs_of,
    fast_worker_env,
    raising_job,
    run_row,
    stubborn_job,
    tiny,
    wait_for,
)
from worker import cancellation, connection, db, store, submission
from worker.schema import RunStatus


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    with fast_worker_env(tmp_path, cifar_dir, database_url, monkeypatch) as variables:
        yield variables


def job(job_id: str) -> Job:
    return Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)


def test_a_job_deaf_to_its_cancel_flag_is_stopped_after_the_grace_period(env: dict, tmp_path: Path) -> None:
    with db.session_scope() as s:
        run_id = store.create_run(s, tiny(epochs=5)).id
    job_id = enqueue_stub(stubborn_job, run_id, run_id=run_id)
    worker = WorkerProcess(env, tmp_path / "worker.log", stubs=True)  # sweeps every second; grace 1 s (FAST)
    try:
        wait_for(lambda: run_row(run_id).epochs_done == 1, 60, what="the stubborn job to record an epoch")
        (horse,) = worker.horses()
        assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
        wait_for(lambda: run_row(run_id).status.finished, 30, 0.2, "the run to be stopped")
        assert worker.proc.poll() is None  # the worker itself lives on
        assert horse not in worker.horses()
    finally:
        log = worker.log()
        worker.stop()
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED, run.reason
    assert "did not stop on its flag" in (run.reason or "")
    assert len(epochs_of(run_id)) == 1 and run.epochs_done == 1  # what it logged is kept
    assert job(job_id).get_status() == "stopped"
    assert not cancellation.cancel_requested(run_id)
    assert "sent RQ's stop-job command" in log


def test_failed_and_dying_jobs_never_stop_the_worker(env: dict, tmp_path: Path) -> None:
    raising = enqueue_stub(raising_job, 0)
    dying = enqueue_stub(dying_job, 0)
    good = submission.submit_run(tiny(epochs=2))
    worker = WorkerProcess(env, tmp_path / "worker.log", burst=True, stubs=True)
    assert worker.proc.wait(timeout=180) == 0, worker.log()[-3000:]
    worker.stop()
    run = run_row(good)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert job(raising).get_status() == "failed" and job(dying).get_status() == "failed"
    assert "this job fails on purpose" in job(raising).latest_result().exc_string
    assert "Work-horse terminated unexpectedly" in job(dying).latest_result().exc_string
    assert job(raising).worker_name == run.worker_name  # one worker process ran all three, in order
