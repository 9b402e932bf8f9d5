"""Cancelling, all in the database: `cancel_run` cancels a queued run at once and asks a running one to stop
(runs.cancel_requested_at, read by its job or its tracked loop, aged by `worker.reconcile`); `cancel_sweep` and
`cancel_landscape` move their row to cancelled, which their job checks between steps. Cancel needs no Redis: it
works while Redis is down (a queued run's job is then left on the queue, and skips the cancelled run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from worker import landscapes, sweeps
from worker.db import session_scope
from worker.liveness import drop_job
from worker.schema import RunStatus
from worker.store import get_run, request_cancel, require_run, transition_run

log = logging.getLogger(__name__)


def cancel_requested(run_id: int) -> bool:
    """Whether the run is running and asked to stop (runs.cancel_requested_at)."""
    with session_scope() as session:
        run = get_run(session, int(run_id))
        return run is not None and run.cancel_requested_at is not None


def cancel_run(run_id: int) -> RunStatus:
    """Cancel a run; return its status afterwards.

    A queued (or interrupted) run is marked cancelled at once and its job removed from the queue. A running
    run (a job's, or a tracked run's: the user's own loop, `vgp_models.track`) gets runs.cancel_requested_at
    (`store.request_cancel`): its job reads it with its next progress write and marks itself cancelled within a
    few seconds, so this returns `running`. A job still running VGP_CANCEL_GRACE_S after the request is stopped by
    its worker on RQ's stop-job command (sent by `worker.reconcile`); a tracked run stops at its next step.
    A finished run is left as it is. Raises RunNotFound.
    """
    run_id = int(run_id)
    with session_scope() as session:
        job_id = require_run(session, run_id).job_id
        cancelled = transition_run(
            session, run_id, (RunStatus.QUEUED, RunStatus.INTERRUPTED), RunStatus.CANCELLED, reason="cancelled by user"
        )
        if request_cancel(session, run_id):
            log.info("run %d: cancel requested", run_id)
        status = require_run(session, run_id).status
    if cancelled:
        drop_job(job_id)
        log.info("run %d cancelled before it ran", run_id)
    return status


def cancel_sweep(sweep_id: int) -> RunStatus:
    """Cancel a queued or running sweep (a running one stops after the (cure, depth) in hand); its status after."""
    return _cancel_measurement(sweeps.require_sweep, sweeps.transition_sweep, sweep_id)


def cancel_landscape(landscape_id: int) -> RunStatus:
    """Cancel a queued or running landscape (a running one stops after the point in hand); its status after."""
    return _cancel_measurement(landscapes.require_landscape, landscapes.transition_landscape, landscape_id)


def _cancel_measurement(require: Callable, transition: Callable[..., bool], item_id: int) -> RunStatus:
    with session_scope() as session:
        job_id = require(session, item_id).job_id
        active = (RunStatus.QUEUED, RunStatus.RUNNING)
        cancelled = transition(session, item_id, active, RunStatus.CANCELLED, "cancelled by user")
        status = require(session, item_id).status
    if cancelled:
        drop_job(job_id)
    return status
