"""Keep Redis in step with the database, which is the truth: one idempotent pass that any process may run.

`reconcile()` does four things, each a conditional UPDATE so that several workers reconciling at once agree:

1. a running run whose Cancel (runs.cancel_requested_at) is older than VGP_CANCEL_GRACE_S gets RQ's stop-job
   command (its worker kills the work horse and `rq_jobs.callbacks.on_job_stopped` marks it cancelled); if its job
   is already dead, it is marked cancelled here (a run someone cancelled is never interrupted and resumed);
2. a running run whose heartbeat is older than VGP_STALE_AFTER_S and whose RQ job is not alive (the worker
   was SIGKILLed, lost power, or Redis lost the job) becomes interrupted;
3. an interrupted run is queued again, VGP_AUTO_RESUMES times at most (counted in runs.auto_resumes), and
   continues from its last checkpoint;
4. a queued run whose RQ job is gone (Redis flushed or restarted empty) is enqueued again.

A tracked run (`vgp_models.track`: the user's own loop writes it, no job) is judged by its heartbeat alone, before
Redis is asked anything: stale past VGP_STALE_AFTER_S, it becomes interrupted (or cancelled, when Cancel was
asked), and it is never queued again: there is no job that could continue it.

Every worker runs it at start and then every VGP_RECONCILE_INTERVAL_S (`worker.runner.ReconcileThread`, in
`run_worker`); the dashboard runs it on page loads, at most as often; `python -m worker reconcile` runs it once.
This module reaches RQ only through `worker.liveness` and `worker.queue`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from worker.connection import QueueError, require_redis
from worker.db import session_scope
from worker.liveness import job_alive, job_pending, stop_job
from worker.queue import enqueue_run
from worker.schema import Run, RunOrigin, RunStatus, utcnow
from worker.settings import Settings
from worker.store import claim_auto_resume, interrupt_run, list_runs, squash, transition_run

__all__ = ["LOST_JOB_GRACE_S", "ReconcileReport", "reconcile", "reconcile_quietly"]

log = logging.getLogger(__name__)

LOST_JOB_GRACE_S = 60.0
"""A queued run that never got a job id (its submitter died between the insert and the enqueue) is enqueued
after this long; a run with a job id is checked at once (a duplicate job is harmless: the run's job_id
fences it, see `worker.jobs.train_run`)."""


@dataclass
class ReconcileReport:
    """The run ids each step changed."""

    stopped: list[int] = field(default_factory=list)  # stop-job command sent
    cancelled: list[int] = field(default_factory=list)  # cancelled here: Cancel asked, job (or process) dead
    interrupted: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)  # automatic re-enqueues
    requeued: list[int] = field(default_factory=list)  # queued runs whose job was lost

    def __bool__(self) -> bool:
        return any((self.stopped, self.cancelled, self.interrupted, self.resumed, self.requeued))

    def __str__(self) -> str:
        parts = [f"{name} {ids}" for name, ids in vars(self).items() if ids]
        return ", ".join(parts) or "nothing to do"


@dataclass(frozen=True)
class _RunView:
    id: int
    job_id: str | None
    heartbeat_at: datetime | None
    started_at: datetime | None
    created_at: datetime
    auto_resumes: int
    tracked: bool
    cancel_requested_at: datetime | None  # a pending Cancel


def _runs(statuses: tuple[RunStatus, ...]) -> list[_RunView]:
    """A snapshot, read in its own short transaction (every change below is a separate write-first one)."""
    with session_scope() as session:
        runs: list[Run] = list_runs(session, statuses)
        return [
            _RunView(r.id, r.job_id, r.heartbeat_at, r.started_at, r.created_at, r.auto_resumes or 0,
                     r.origin is RunOrigin.TRACKED, r.cancel_requested_at)
            for r in runs
        ]  # fmt: skip


def reconcile(settings: Settings | None = None) -> ReconcileReport:
    """One pass (see the module docstring); returns what it changed.

    Raises QueueError when Redis does not answer (then no queued run is judged dead; tracked runs, judged by
    their heartbeat alone, are reconciled first), SQLAlchemyError when the database does not.
    """
    settings = settings or Settings.from_env()
    report = ReconcileReport()
    _reconcile_tracked(settings, report)
    require_redis()  # else no queued run is judged dead
    _reconcile_running(settings, report)
    _resume_interrupted(settings, report)
    _requeue_lost(settings, report)
    if report:
        log.info("reconcile: %s", report)
    return report


def _reconcile_tracked(settings: Settings, report: ReconcileReport) -> None:
    """A running tracked run whose heartbeat is stale: its process is gone (killed, crashed, or cut off)."""
    now = utcnow()
    for run in _runs((RunStatus.RUNNING,)):
        last_sign = run.heartbeat_at or run.started_at or run.created_at
        if not run.tracked or last_sign >= now - timedelta(seconds=settings.stale_after_s):
            continue
        quiet = int((now - last_sign).total_seconds())
        if run.cancel_requested_at is not None:
            status, reason, ids = RunStatus.CANCELLED, "cancelled by user (its process had stopped)", report.cancelled
        else:
            status, ids = RunStatus.INTERRUPTED, report.interrupted
            reason = (f"no heartbeat for {quiet} s: the tracking process was killed or lost the database; "
                      "a tracked run is never queued again (run your script again)")  # fmt: skip
        with session_scope() as session:
            done = transition_run(session, run.id, (RunStatus.RUNNING,), status, reason)
        if done:
            log.warning("tracked run %d %s: %s", run.id, status.value, reason)
            ids.append(run.id)


def _reconcile_running(settings: Settings, report: ReconcileReport) -> None:
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.stale_after_s)
    for run in _runs((RunStatus.RUNNING,)):
        if run.tracked:
            continue  # _reconcile_tracked's
        asked = run.cancel_requested_at is not None
        last_sign = run.heartbeat_at or run.started_at or run.created_at
        stale = last_sign < stale_before
        if not asked and not stale:
            continue
        alive = job_alive(run.job_id, settings.stale_after_s)
        if asked:
            overdue = now - run.cancel_requested_at >= timedelta(seconds=settings.cancel_grace_s)
            if alive:
                if overdue and run.job_id and stop_job(run.job_id):
                    report.stopped.append(run.id)
            elif stale or overdue:  # a cancelled run is never interrupted and resumed
                _cancel_dead(run, report)
            continue
        if stale and not alive:
            quiet = int((now - last_sign).total_seconds())
            reason = (
                f"no heartbeat for {quiet} s and its worker is gone (killed, crashed or lost power); "
                "resume to continue from the last checkpoint"
            )
            with session_scope() as session:
                done = interrupt_run(session, run.id, (RunStatus.RUNNING,), reason, only_job=run.job_id)
            if done:
                log.warning("run %d interrupted: %s", run.id, reason)
                report.interrupted.append(run.id)


def _cancel_dead(run: _RunView, report: ReconcileReport) -> None:
    reason = "cancelled by user (its worker had stopped)"
    with session_scope() as session:
        done = transition_run(session, run.id, (RunStatus.RUNNING,), RunStatus.CANCELLED, reason, only_job=run.job_id)
    if done:
        report.cancelled.append(run.id)


def _resume_interrupted(settings: Settings, report: ReconcileReport) -> None:
    if settings.auto_resumes <= 0:
        return
    for run in _runs((RunStatus.INTERRUPTED,)):
        if run.tracked or run.auto_resumes >= settings.auto_resumes:
            continue
        with session_scope() as session:
            if not claim_auto_resume(session, run.id, settings.auto_resumes):
                continue  # another worker's reconcile won, or someone resumed or cancelled it meanwhile
        _enqueue(run.id)
        log.warning("run %d queued again automatically (resume %d of %d)", run.id, run.auto_resumes + 1,
                    settings.auto_resumes)  # fmt: skip
        report.resumed.append(run.id)


def _requeue_lost(settings: Settings, report: ReconcileReport) -> None:
    old_enough = utcnow() - timedelta(seconds=LOST_JOB_GRACE_S)
    for run in _runs((RunStatus.QUEUED,)):
        if run.id in report.resumed:
            continue  # just enqueued by this pass
        if run.job_id is None and run.created_at > old_enough:
            continue  # being submitted right now
        if job_pending(run.job_id, settings.stale_after_s):
            continue
        _enqueue(run.id)
        log.warning("run %d was queued but its job %s is gone; queued it again", run.id, run.job_id)
        report.requeued.append(run.id)


def _enqueue(run_id: int) -> None:
    """Enqueue a queued run; if Redis refuses, the run stays queued and the next pass tries again."""
    try:
        enqueue_run(run_id)
    except QueueError as e:
        log.warning("run %d: not enqueued (%s); the next reconcile tries again", run_id, e)


def reconcile_quietly(settings: Settings | None = None) -> ReconcileReport | None:
    """`reconcile`, with any failure logged as one line instead of raised (for threads and page loads)."""
    try:
        return reconcile(settings)
    except Exception as e:  # noqa: BLE001 (reconcile must never take its host process down)
        log.warning("reconcile skipped: %s", squash(f"{type(e).__name__}: {e}", 300))
        return None
