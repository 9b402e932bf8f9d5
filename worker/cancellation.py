"""Cancelling: a run's cancel flag in Redis (set here, polled by its job, aged by `worker.reconcile`), and
`cancel_run`, `cancel_sweep` and `cancel_landscape`, which cancel in the database at once what has not started yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from worker import landscapes, sweeps
from worker.connection import QueueError, get_redis, queue_name, redis_error_line, redis_url
from worker.db import database_url, session_scope
from worker.liveness import drop_job
from worker.schema import RunOrigin, RunStatus
from worker.store import get_run, request_cancel, require_run, transition_run

log = logging.getLogger(__name__)

CANCEL_KEY = "vgp:cancel:{queue}:{database}:{run_id}:{run_uuid}"
"""A Redis key whose existence asks the running job for that run to stop; the job polls it. Its value is the
Unix time of the request, so that `worker.reconcile` can send RQ's stop-job command after VGP_CANCEL_GRACE_S. Namespaced
by queue and database, so that two installs sharing a Redis never cancel each other's runs, and by the run's
uuid, so that a flag left behind never stops a later run that got the same id (a database made afresh)."""

CANCEL_FLAG_TTL_S = 7 * 24 * 3600
"""Cancel flags expire on their own, in case the run they name never polls again."""

POLL_TIMEOUT_S = 2.0
"""Socket timeouts of a job's cancel-poll client (`poll_connection`)."""


def cancel_key(run_id: int, run_uuid: str | None = None) -> str | None:
    """The run's cancel flag (CANCEL_KEY) in this queue and database; the uuid is read from the database when
    not given. None when the run no longer exists."""
    if run_uuid is None:
        with session_scope() as session:
            run = get_run(session, int(run_id))
            if run is None:
                return None
            run_uuid = run.uuid
    database = make_url(database_url()).database or ""  # the name, not the host: every host spells that its own way
    return CANCEL_KEY.format(queue=queue_name(), database=database, run_id=int(run_id), run_uuid=run_uuid)


def poll_connection() -> Redis:
    """A client of a job's own for its cancel polls, with short socket timeouts: a Redis that hangs (SIGSTOP, a
    half-open connection) then costs a poll POLL_TIMEOUT_S, never freezes training. (A worker's own client
    gets RQ's long dequeue timeout.)"""
    return Redis.from_url(redis_url(), socket_timeout=POLL_TIMEOUT_S, socket_connect_timeout=POLL_TIMEOUT_S)


def cancel_requested(run_id: int, run_uuid: str | None = None, connection: Redis | None = None) -> bool | None:
    """Whether someone asked the running job for `run_id` to stop; None (falsy, and a warning) when Redis did
    not answer, so that a poller can back off (a Redis outage must not stop training)."""
    try:
        key = cancel_key(run_id, run_uuid)
        return key is not None and bool((connection or get_redis()).exists(key))
    except Exception as e:  # noqa: BLE001
        log.warning("run %d: cannot read the cancel flag (%s: %s)", run_id, type(e).__name__, e)
        return None


def clear_cancel_flag(run_id: int, run_uuid: str | None = None) -> None:
    key = cancel_key(run_id, run_uuid)
    if key is not None:
        get_redis().delete(key)


def cancel_flag_age(run_id: int, run_uuid: str | None = None) -> float | None:
    """Seconds since a cancel was requested for `run_id`, None when none was. Raises QueueError."""
    key = cancel_key(run_id, run_uuid)
    if key is None:
        return None
    try:
        connection = get_redis()
        raw = connection.get(key)
        if raw is None:
            return None
        try:
            return max(0.0, time.time() - float(raw))
        except ValueError:  # a flag without a timestamp: its age from its TTL
            ttl = connection.ttl(key)
            return float(CANCEL_FLAG_TTL_S - ttl) if ttl and ttl > 0 else float(CANCEL_FLAG_TTL_S)
    except RedisError as e:
        raise QueueError(redis_error_line(e)) from e


def cancel_run(run_id: int) -> RunStatus:
    """Cancel a run; return its status afterwards.

    A queued (or interrupted) run is marked cancelled at once and its job removed from the queue. A running
    run gets its Redis flag (CANCEL_KEY); its job stops within about a second of training and marks
    itself cancelled, so this returns `running`. A job still running VGP_CANCEL_GRACE_S after the flag is
    stopped by its worker on RQ's stop-job command (sent by `worker.reconcile`). A running tracked run (no job:
    the user's own loop, `vgp_models.track`) gets runs.cancel_requested_at instead, and stops at its next step.
    A finished run is left as it is. Raises RunNotFound, or QueueError when a running run's flag cannot be set.
    """
    run_id = int(run_id)
    with session_scope() as session:
        run = require_run(session, run_id)
        job_id, run_uuid, tracked = run.job_id, run.uuid, run.origin is RunOrigin.TRACKED
        cancelled = transition_run(
            session, run_id, (RunStatus.QUEUED, RunStatus.INTERRUPTED), RunStatus.CANCELLED, reason="cancelled by user"
        )
        if tracked and request_cancel(session, run_id):
            log.info("run %d: cancel requested (tracked: it stops at its next step)", run_id)
        status = require_run(session, run_id).status
    if cancelled:
        drop_job(job_id)
        log.info("run %d cancelled before it ran", run_id)
        return RunStatus.CANCELLED
    if status is RunStatus.RUNNING and not tracked:
        try:
            key = cancel_key(run_id, run_uuid)
            get_redis().set(key, f"{time.time():.3f}", ex=CANCEL_FLAG_TTL_S, nx=True)
        except Exception as e:
            raise QueueError(redis_error_line(e), run_id) from e
        log.info("run %d: cancel requested", run_id)
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
