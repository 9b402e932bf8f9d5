"""What RQ calls when one of our jobs ends badly: it failed (an exception escaped it, or its worker died and RQ
found it abandoned), it was stopped (RQ's stop-job command), or its work horse died under a live worker. Each
fixes the stored row of the job's run, sweep or landscape, fenced by the job id (`only_job`), so that an old job
never touches an item queued again since.

Jobs name these by import path (worker.rq_jobs.JOB_CALLBACKS); `on_work_horse_killed` is the worker's own hook
(worker.runner.make_worker).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from redis import Redis
from rq.job import Job

from worker import landscapes, sweeps
from worker.db import session_scope
from worker.rq_jobs import is_id
from worker.schema import RunStatus
from worker.store import interrupt_run, transition_run

log = logging.getLogger(__name__)


def job_run_id(job: Job) -> int | None:
    """The run id a job carries (its only argument), None for a job that is not ours.

    A sweep's job carries a sweep id instead; the callbacks' `only_job` fence keeps it from touching a run.
    """
    try:
        run_id = job.args[0]
    except (IndexError, TypeError):
        return None
    return run_id if is_id(run_id) else None


def on_job_failure(job: Job, connection: Redis, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """RQ failure callback: an exception escaped `train_run`, or RQ found the job abandoned by a dead worker.

    `train_run` records its own failures, so this only fixes rows still queued (failed) or running
    (interrupted: the checkpoint allows a resume).
    """
    run_id = job_run_id(job)
    if run_id is None:
        return
    name = getattr(exc_type, "__name__", "error")
    reason = f"{name}: {exc_value}" if str(exc_value or "") else f"{name} (the worker stopped mid-run)"
    with session_scope() as session:  # only_job: an abandoned old job must not touch a run queued again since
        if not interrupt_run(session, run_id, (RunStatus.RUNNING,), reason, only_job=job.id):
            transition_run(session, run_id, (RunStatus.QUEUED,), RunStatus.FAILED, reason=reason, only_job=job.id)


def on_job_stopped(job: Job, connection: Redis) -> None:
    """RQ stopped callback: the worker killed the work horse on RQ's stop-job command; the run is cancelled.

    Everything the job recorded so far (epochs, gradients, checkpoints) is kept; the Cancel request is cleared
    with the move (`store.transition_run`).
    """
    run_id = job_run_id(job)
    if run_id is None:
        return
    reason = "cancelled by user (the job did not stop when asked, so its worker stopped it)"
    with session_scope() as session:
        from_statuses = (RunStatus.RUNNING, RunStatus.QUEUED)
        transition_run(session, run_id, from_statuses, RunStatus.CANCELLED, reason, only_job=job.id)
    log.info("run %d cancelled: its job %s was stopped", run_id, job.id)


def on_sweep_failure(job: Job, connection: Redis, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """RQ failure callback of a sweep's job: an exception escaped it, or its worker died; the sweep failed."""
    _measurement_failed(sweeps.transition_sweep, job, exc_type, exc_value)


def on_landscape_failure(job: Job, connection: Redis, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """RQ failure callback of a landscape's job: an exception escaped it, or its worker died; it failed."""
    _measurement_failed(landscapes.transition_landscape, job, exc_type, exc_value)


def _measurement_failed(transition: Any, job: Job, exc_type: Any, exc_value: Any) -> None:
    name = getattr(exc_type, "__name__", "error")
    reason = f"{name}: {exc_value}" if str(exc_value or "") else f"{name} (the worker stopped mid-job)"
    with session_scope() as session:
        active = (RunStatus.QUEUED, RunStatus.RUNNING)
        transition(session, int(job.args[0]), active, RunStatus.FAILED, reason, only_job=job.id)


def on_work_horse_killed(job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
    """Worker hook: the forked work horse died (OOM killer, SIGKILL, cold shutdown); mark its run interrupted."""
    run_id = job_run_id(job)
    if run_id is None:
        return
    how = f"signal {os.WTERMSIG(ret_val)}" if ret_val and os.WIFSIGNALED(ret_val) else f"status {ret_val}"
    reason = f"the worker's training process died ({how}); resume to continue from the last checkpoint"
    try:
        with session_scope() as session:
            interrupt_run(session, run_id, (RunStatus.RUNNING, RunStatus.QUEUED), reason, only_job=job.id)
    except Exception:
        log.exception("run %d: could not mark it interrupted", run_id)
