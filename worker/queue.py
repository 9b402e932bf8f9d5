"""The queue: RQ on Redis, carrying nothing but run (or sweep, or landscape) ids. Enqueueing a job, and the
queue's counts.

A run's life: `worker.submission.submit_run` adds the row (queued, with its job id) and `enqueue_run_job` puts
`worker.jobs.train_run(run_id)` on the queue with RQ's JSON serializer; a worker (`python -m worker worker`, i.e.
`worker.runner.run_worker`) forks a work horse per job, and the job moves the row through running to completed,
diverged, cancelled or failed.
If a work horse dies (OOM, SIGKILL, a cold shutdown) the worker marks the run interrupted; `resume_run` continues it
from its checkpoint. If the whole worker dies, `worker.reconcile` (run by every live worker and the dashboard) finds
the run by its stale heartbeat and dead job, marks it interrupted and queues it again once by itself.

Enqueueing never imports torch: the job function and its callbacks are named by string (worker.rq_jobs, which
also holds the callbacks and what a worker accepts).
"""

from __future__ import annotations

import logging
import secrets

from redis import Redis
from rq import Callback, Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.connection import QueueError, get_redis, queue_name, redis_error_line
from worker.db import session_scope
from worker.rq_jobs import JOB_CALLBACKS, JOB_FUNCTION, LANDSCAPE_FUNCTION, SWEEP_FUNCTION, OurCallbacksJob
from worker.settings import Settings
from worker.store import require_run

log = logging.getLogger(__name__)

JOB_STARTUP_S = 900
"""Job timeout allowance beyond the epochs: imports, loading CIFAR-100, the final test pass."""

SWEEP_TIMEOUT_S = 3600
"""RQ's wall-time limit for a depth sweep (the default one takes about a minute on a CPU)."""

LANDSCAPE_POINT_S = 120
"""RQ's allowance per landscape point per 1,000 images: a VGG38 forward pass over 1,000 images takes 6 s of a CPU
core, 30 s of wall time on a tenfold oversubscribed 2-core CPU (docs/benchmarks.md)."""

RESULT_TTL_S = 7 * 24 * 3600
FAILURE_TTL_S = 30 * 24 * 3600


def get_queue(name: str | None = None, connection: Redis | None = None) -> Queue:
    """The run queue (VGP_QUEUE, default "vgp") with RQ's JSON serializer (jobs carry plain ints, no pickles) and
    `OurCallbacksJob` (jobs fetched through it call no callback but ours)."""
    return Queue(
        queue_name(name), connection=connection or get_redis(), serializer=JSONSerializer, job_class=OurCallbacksJob
    )


def job_timeout_s(epochs: int) -> int:
    """RQ's wall-time limit for a run of `epochs` epochs (VGP_EPOCH_TIMEOUT_S each)."""
    return JOB_STARTUP_S + max(int(epochs), 1) * Settings.from_env().epoch_timeout_s


def run_job_id(run_id: int) -> str:
    """A new job id for a run: 'vgp-run-<id>-<8 hex>'."""
    return f"vgp-run-{int(run_id)}-{secrets.token_hex(4)}"


def enqueue_run(run_id: int, queue: Queue | None = None) -> str:
    """Put an existing run's job on the queue under a new job id, written on the run first; return the job id.

    The job's only argument is the run id. Raises RunNotFound, or QueueError when Redis refuses.
    """
    run_id = int(run_id)
    job_id = run_job_id(run_id)
    with session_scope() as session:
        run = require_run(session, run_id)
        epochs = run.epochs_total
        run.job_id = job_id  # written before the job exists, so the job never runs on a row without it
    enqueue_run_job(run_id, job_id, epochs, queue)
    return job_id


def enqueue_run_job(run_id: int, job_id: str, epochs: int, queue: Queue | None = None) -> None:
    """Put the job of a run of `epochs` epochs whose row already carries `job_id` on the queue. Raises
    QueueError when Redis refuses."""
    queue = queue or get_queue()
    try:
        queue.enqueue(
            JOB_FUNCTION,
            run_id,
            job_id=job_id,
            job_timeout=job_timeout_s(epochs),
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            description=f"train run {run_id}",
            on_failure=Callback(JOB_CALLBACKS[JOB_FUNCTION]["failure"]),
            on_stopped=Callback(JOB_CALLBACKS[JOB_FUNCTION]["stopped"]),
        )
    except Exception as e:
        _forget_job(queue.connection, job_id)
        raise QueueError(redis_error_line(e), run_id) from e
    log.info("run %d queued as job %s on %s", run_id, job_id, queue.name)


def enqueue_sweep(sweep_id: int, job_id: str) -> None:
    """Put a stored sweep's job on the queue under `job_id` (already on its row). Raises QueueError."""
    _enqueue_measurement(SWEEP_FUNCTION, sweep_id, job_id, SWEEP_TIMEOUT_S, f"depth sweep {sweep_id}")


def enqueue_landscape(landscape_id: int, job_id: str, points: int, images: int) -> None:
    """Put a stored landscape's job on the queue under `job_id` (already on its row). Raises QueueError."""
    timeout = JOB_STARTUP_S + points * max(images, 1000) // 1000 * LANDSCAPE_POINT_S
    _enqueue_measurement(LANDSCAPE_FUNCTION, landscape_id, job_id, timeout, f"loss landscape {landscape_id}")


def _enqueue_measurement(function: str, item_id: int, job_id: str, timeout: int, description: str) -> None:
    """Enqueue a job that measures a stored item (a sweep, a landscape) with its failure callback."""
    queue = get_queue()
    try:
        queue.enqueue(
            function, item_id, job_id=job_id, job_timeout=timeout, result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S, description=description,
            on_failure=Callback(JOB_CALLBACKS[function]["failure"]),
        )  # fmt: skip
    except Exception as e:
        _forget_job(queue.connection, job_id)
        raise QueueError(redis_error_line(e), item_id) from e


def _forget_job(connection: Redis, job_id: str) -> None:
    """Best effort: remove the hash of a job whose enqueue failed half-way."""
    try:
        connection.delete(Job.key_for(job_id))
    except Exception:  # noqa: BLE001 (Redis is already failing; the enqueue error is what matters)
        log.debug("could not remove job %s", job_id)
