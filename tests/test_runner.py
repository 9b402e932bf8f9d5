"""worker.runner: the worker process and its callbacks. Against a real forking worker process (`python -m worker
worker`): only VGP Lab's job runs (anyone who can write to Redis can enqueue a job naming any function, and RQ
imports and calls it, so every other job is left failed, unrun, with the reason); a job deaf to its Cancel (a
training run whose work horse the test freezes) is stopped with RQ's stop-job command after the grace period by the
worker's reconcile thread; a failing job (a sweep's, its sweep gone) or a dying one (a SIGKILLed work horse) never
stops the worker. In this process: a killed work horse marks its run interrupted, and the run can be resumed.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import uuid
from pathlib import Path

import pytest
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.reliability_support import WorkerProcess, epochs_of, process_alive, run_row, wait_for
from tests.run_support import tiny
from worker import cancellation, connection, db, queue, rq_jobs, submission
from worker.schema import RunStatus

TINY = tiny()


def job(job_id: str) -> Job:
    return Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)


def holds_no_write_lock(url: str, run_id: int) -> bool:
    """Whether a write on the run's row would go through at once: no transaction of another process (a frozen
    work horse's) holds the SQLite file's write lock or the Postgres row's lock."""
    if url.startswith("sqlite"):
        probe = sqlite3.connect(make_url(url).database, timeout=0)
        try:
            probe.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError:  # database is locked
            return False
        finally:
            probe.close()
    try:
        with db.session_scope() as s:
            s.execute(text("SELECT id FROM runs WHERE id = :id FOR UPDATE NOWAIT"), {"id": run_id})
        return True
    except OperationalError:  # lock not available
        return False


def frozen_outside_a_write(pid: int, url: str, run_id: int) -> bool:
    """SIGSTOP `pid`; True when it froze holding no write lock, else it is let go on (SIGCONT) and False: frozen in
    the middle of a write, it would hold up the test's own writes, not only its Cancel."""
    os.kill(pid, signal.SIGSTOP)
    if holds_no_write_lock(url, run_id):
        return True
    os.kill(pid, signal.SIGCONT)
    return False


def test_a_job_deaf_to_its_cancel_is_stopped_after_the_grace_period(fast_env: dict, tmp_path: Path) -> None:
    """A real training run whose work horse is frozen (SIGSTOP): it never reads its Cancel again."""
    run_id = submission.submit_run(tiny(epochs=10_000))
    worker = WorkerProcess(fast_env, tmp_path / "worker.log")  # reconciles every second; grace 1 s (FAST)
    horse = None
    try:
        (horse,) = wait_for(lambda: run_row(run_id).epochs_done >= 1 and worker.horses(), 120, what="one epoch")
        wait_for(lambda: frozen_outside_a_write(horse, fast_env["DATABASE_URL"], run_id), 30, 0.01, "a freeze")
        assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
        wait_for(lambda: run_row(run_id).status.finished, 30, 0.2, "the run to be stopped")
        assert worker.proc.poll() is None  # the worker itself lives on
        assert horse not in worker.horses()
    finally:
        if horse is not None and process_alive(horse):
            os.kill(horse, signal.SIGKILL)  # the test failed before RQ killed it: leave no frozen process behind
        log = worker.log()
        worker.stop()
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED, run.reason
    assert "did not stop when asked" in (run.reason or "")
    assert len(epochs_of(run_id)) == run.epochs_done >= 1  # what it logged is kept
    assert job(run.job_id).get_status() == "stopped"
    assert not cancellation.cancel_requested(run_id)
    assert "sent RQ's stop-job command" in log


@pytest.mark.backends("sqlite")  # the worker's handling of jobs, not SQL
def test_failed_and_dying_jobs_never_stop_the_worker(fast_env: dict, tmp_path: Path) -> None:
    """A sweep's job whose sweep is gone raises (SweepNotFound); a training run's work horse is SIGKILLed, as the
    OOM killer would; the run queued after both still trains, on the same worker."""
    failing = f"vgp-test-no-sweep-{uuid.uuid4().hex[:6]}"
    queue.enqueue_sweep(999_999, failing)  # a valid id (1..2**31-1) of no sweep: the job itself fails
    killed = submission.submit_run(tiny(epochs=10_000))
    good = submission.submit_run(tiny(epochs=2))
    worker = WorkerProcess({**fast_env, "VGP_AUTO_RESUMES": "0"}, tmp_path / "worker.log", burst=True)
    try:
        (horse,) = wait_for(lambda: run_row(killed).status is RunStatus.RUNNING and worker.horses(), 120,
                            what="the run to start")  # fmt: skip
        os.kill(horse, signal.SIGKILL)
        assert worker.proc.wait(timeout=180) == 0, worker.log()[-3000:]
    finally:
        worker.stop()
    run, dead = run_row(good), run_row(killed)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert dead.status is RunStatus.INTERRUPTED and "signal 9" in (dead.reason or "")
    assert job(failing).get_status() == "failed" and job(dead.job_id).get_status() == "failed"
    assert "SweepNotFound" in job(failing).latest_result().exc_string
    assert "Work-horse terminated unexpectedly" in job(dead.job_id).latest_result().exc_string
    assert job(failing).worker_name == run.worker_name  # one worker process ran all three, in order


def foreign_jobs(marker: Path) -> dict[str, tuple[str, tuple, dict]]:
    """name -> (function, args, enqueue options): each would touch `marker` or pass a non-id to our job."""
    touch = f"touch {marker}"
    return {
        "os.system": ("os.system", (touch,), {}),
        "subprocess": ("subprocess.getoutput", (touch,), {}),
        "str_run_id": (rq_jobs.JOB_FUNCTION, ("1",), {}),
        "two_args": (rq_jobs.JOB_FUNCTION, (1, 2), {}),
        "bool_run_id": (rq_jobs.JOB_FUNCTION, (True,), {}),
        "huge_run_id": (rq_jobs.JOB_FUNCTION, (10**30,), {}),  # issue 17.15: an OverflowError traceback
        "int64_run_id": (rq_jobs.JOB_FUNCTION, (2**63,), {}),
        "int4_run_id": (rq_jobs.JOB_FUNCTION, (2**31,), {}),  # one past Postgres's Integer
        "zero_run_id": (rq_jobs.JOB_FUNCTION, (0,), {}),
        "huge_sweep_id": (rq_jobs.SWEEP_FUNCTION, (-(2**63),), {}),
        "foreign_callback": (rq_jobs.JOB_FUNCTION, (987654,), {"on_failure": Callback("os.system")}),
    }


@pytest.mark.backends("sqlite")  # the worker's allow-list, not SQL
def test_the_worker_refuses_every_job_but_ours(fast_env: dict, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    q = queue.get_queue()
    jobs = foreign_jobs(marker).items()
    refused = {name: q.enqueue(func, *args, **options).id for name, (func, args, options) in jobs}
    ours = q.enqueue(rq_jobs.JOB_FUNCTION, 987654).id  # a run that does not exist: the job runs and says "missing"
    worker = WorkerProcess(fast_env, tmp_path / "worker.log", burst=True)
    assert worker.proc.wait(timeout=120) == 0, worker.log()[-3000:]
    worker.stop()
    assert not marker.exists()
    for name, job_id in refused.items():
        job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
        assert job.get_status() == "failed", name
        reason = job.latest_result().exc_string
        assert reason.startswith("refused by VGP Lab's worker: ") and "\n" not in reason, (name, reason)
    assert not q.intermediate_queue.get_job_ids()  # nothing left for RQ's cleanup to fail a second time
    done = Job.fetch(ours, connection=connection.get_redis(), serializer=JSONSerializer)
    assert done.get_status() == "finished" and done.return_value() == "missing"
