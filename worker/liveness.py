"""RQ jobs seen from outside: which job this is, whether a job is alive or will still run, and stopping or
dropping one. `worker.reconcile` judges runs by these; the jobs ask who they are.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker, get_current_job
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from worker.connection import QueueError, get_redis, redis_error_line
from worker.rq_jobs import fetch_job

log = logging.getLogger(__name__)

WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)


def current_worker_name() -> str | None:
    """The RQ worker running the current job, if any (called from inside the job)."""
    job = get_current_job()
    return job.worker_name if job is not None else None


def current_job_id() -> str | None:
    """The id of the RQ job being executed, if any (called from inside the job)."""
    job = get_current_job()
    return job.id if job is not None else None


def _worker_alive(connection: Redis, name: str | None, stale_after_s: float) -> bool:
    """Whether the RQ worker `name` is registered and sent a heartbeat within `stale_after_s`."""
    if not name:
        return False
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
    if worker is None or worker.last_heartbeat is None:
        return False
    return (datetime.now(UTC) - worker.last_heartbeat).total_seconds() <= stale_after_s


def job_alive(job_id: str | None, stale_after_s: float) -> bool:
    """Whether an RQ job is executing on a live worker (registered, heartbeating within `stale_after_s`).

    False when the job is gone (Redis flushed or restarted empty), not started, or its worker stopped
    heartbeating (SIGKILL, power loss). Raises QueueError when Redis does not answer: nothing is judged dead
    on an outage.
    """
    if not job_id:
        return False
    try:
        connection = get_redis()
        job = fetch_job(job_id, connection)
        if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
            return False
        return _worker_alive(connection, job.worker_name, stale_after_s)
    except RedisError as e:
        raise QueueError(redis_error_line(e)) from e


def job_pending(job_id: str | None, stale_after_s: float) -> bool:
    """Whether an RQ job will still run: waiting (queued, or being dequeued right now: RQ moves it to an
    intermediate list before marking it started), or started on a live worker. Raises QueueError."""
    if not job_id:
        return False
    try:
        connection = get_redis()
        job = fetch_job(job_id, connection)
        if job is None:
            return False
        status = job.get_status(refresh=False)
        if status in WAITING:
            return True
        return status == JobStatus.STARTED and _worker_alive(connection, job.worker_name, stale_after_s)
    except RedisError as e:
        raise QueueError(redis_error_line(e)) from e


def stop_job(job_id: str) -> bool:
    """Send RQ's stop-job command: the job's worker kills its work horse (SIGKILL) and runs `on_job_stopped`.

    False when the job is gone or not executing. Raises QueueError when Redis does not answer.
    """
    try:
        send_stop_job_command(get_redis(), job_id, serializer=JSONSerializer)
    except (NoSuchJobError, InvalidJobOperation):
        return False
    except RedisError as e:
        raise QueueError(redis_error_line(e)) from e
    log.warning("job %s did not stop when its run was cancelled; sent RQ's stop-job command", job_id)
    return True


def drop_job(job_id: str | None) -> None:
    """Best effort: take a job that has not started off the queue (a running one is not touched by RQ's cancel)."""
    if not job_id:
        return
    try:
        job = fetch_job(job_id)
        if job is not None:
            job.cancel()
    except Exception as e:  # noqa: BLE001 (the run is cancelled in the database; the job will skip it)
        log.warning("could not remove job %s from the queue (%s: %s)", job_id, type(e).__name__, e)
