"""The queue: RQ on Redis, carrying nothing but run ids. With `worker.runner`, the only module that imports `rq`.

A run's life: `submit_run` adds the row (queued) and enqueues `worker.jobs.train_run(run_id)` with RQ's
JSON serializer; a worker (`python -m worker worker`, i.e. `worker.runner.run_worker`) forks a work horse per
job, and the job moves the row through running to completed, diverged, cancelled or failed. If a work horse
dies (OOM, SIGKILL, a cold shutdown) the worker marks the run interrupted; `resume_run` continues it from its
checkpoint. If the whole worker dies, `worker.reconcile` (run by every live worker and the dashboard) finds the
run by its stale heartbeat and dead job, marks it interrupted and queues it again once by itself.

If enqueueing fails after the row exists, the row is kept and marked failed with a one-line reason (so the
attempt stays visible), and `QueueError` is raised carrying the run id.

Enqueueing never imports torch: the job function and its callbacks are named by string. The callbacks
(`on_job_failure`, `on_job_stopped`) live here because every job already in Redis names them by this path.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Callback, Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy.engine import make_url

from vgp_models.config import ConfigError, RunConfig
from vgp_models.sweep_config import SweepConfig
from worker import sweeps
from worker.db import database_url, session_scope
from worker.schema import RunStatus
from worker.settings import Settings
from worker.store import create_run, get_run, interrupt_run, require_run, set_status, squash, transition_run

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""Used when REDIS_URL is unset."""

REDIS_TIMEOUT_S = 5.0
"""Every Redis client's connect and command timeout (RQ raises its worker's own above its blocking dequeue)."""

DEFAULT_QUEUE_NAME = "vgp"
"""Used when VGP_QUEUE is unset."""

JOB_FUNCTION = "worker.jobs.train_run"
"""The job, by import path, so that enqueueing and the worker's parent never import torch."""

CANCEL_KEY = "vgp:cancel:{queue}:{database}:{run_id}:{run_uuid}"
"""A Redis key whose existence asks the running job for that run to stop; the job polls it. Its value is the
Unix time of the request, so that a sweep can send RQ's stop-job command after VGP_CANCEL_GRACE_S. Namespaced
by queue and database, so that two installs sharing a Redis never cancel each other's runs, and by the run's
uuid, so that a flag left behind never stops a later run that got the same id (a database made afresh)."""

CANCEL_FLAG_TTL_S = 7 * 24 * 3600
"""Cancel flags expire on their own, in case the run they name never polls again."""

JOB_STARTUP_S = 900
"""Job timeout allowance beyond the epochs: imports, loading CIFAR-100, the final test pass."""

RESULT_TTL_S = 7 * 24 * 3600
FAILURE_TTL_S = 30 * 24 * 3600


class QueueError(RuntimeError):
    """Redis or RQ refused; the message is one line. `run_id` is set when a run row was already written."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


# ---- connections ----------------------------------------------------------------------------------


def redis_url(url: str | None = None) -> str:
    return url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def safe_redis_url(url: str | None = None) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(redis_url(url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_CLIENTS: dict[str, Redis] = {}
_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    # A work horse must not inherit _LOCK held at the moment of the fork (the child's copy is never released).
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def new_redis(url: str | None = None) -> Redis:
    """A client that fails instead of waiting forever: a Redis that hangs (stopped, or a half-open connection
    after a network fault) raises redis' TimeoutError after REDIS_TIMEOUT_S, on connect and on every command."""
    return Redis.from_url(
        redis_url(url), socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S, health_check_interval=30
    )


def get_redis(url: str | None = None) -> Redis:
    """One cached `new_redis` client per URL (REDIS_URL by default); connects lazily, fails fast."""
    url = redis_url(url)
    with _LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = new_redis(url)
        return _CLIENTS[url]


def redis_available(url: str | None = None, timeout_s: float = 0.5) -> bool:
    """Whether Redis answers a ping within `timeout_s`; never raises."""
    try:
        client = Redis.from_url(redis_url(url), socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 (any failure means unavailable)
        return False


def queue_name(name: str | None = None) -> str:
    return name or os.environ.get("VGP_QUEUE") or DEFAULT_QUEUE_NAME


def get_queue(name: str | None = None, connection: Redis | None = None) -> Queue:
    """The run queue (VGP_QUEUE, default "vgp") with RQ's JSON serializer: jobs carry plain ints, no pickles."""
    return Queue(queue_name(name), connection=connection or get_redis(), serializer=JSONSerializer)


def job_timeout_s(epochs: int) -> int:
    """RQ's wall-time limit for a run of `epochs` epochs (VGP_EPOCH_TIMEOUT_S each)."""
    return JOB_STARTUP_S + max(int(epochs), 1) * Settings.from_env().epoch_timeout_s


def check_budget(config: RunConfig, settings: Settings) -> None:
    """ConfigError (one line) when a run would need more than VGP_MAX_PARAMS_X_BATCH: parameters x batch size
    stands for its memory (weights, gradients and Adam's state grow with the first, activations with both)."""
    need = config.parameter_count * config.batch_size
    if need > settings.max_params_x_batch:
        raise ConfigError(
            f"{config.label} has {config.parameter_count:.3g} parameters; x batch {config.batch_size} = {need:.3g}, "
            f"over this installation's budget of {settings.max_params_x_batch:.3g} (VGP_MAX_PARAMS_X_BATCH): "
            "lower the width, depth or batch size"
        )


def redis_error_line(e: Exception) -> str:
    """One line for a failed Redis call: unreachable, or reachable but refusing."""
    if isinstance(e, (RedisConnectionError, RedisTimeoutError)):
        return f"Redis at {safe_redis_url()} is not reachable ({type(e).__name__}); start it or set REDIS_URL"
    return squash(f"Redis at {safe_redis_url()} refused: {type(e).__name__}: {e}")


# ---- runs on the queue ----------------------------------------------------------------------------


def enqueue_run(run_id: int, queue: Queue | None = None) -> str:
    """Put an existing run's job on the queue; return the job id (also stored on the run).

    The job's only argument is the run id. Raises RunNotFound, or QueueError when Redis refuses.
    """
    run_id = int(run_id)
    job_id = f"vgp-run-{run_id}-{secrets.token_hex(4)}"
    with session_scope() as session:
        run = require_run(session, run_id)
        epochs = run.epochs_total
        run.job_id = job_id  # written before the job exists, so the job never runs on a row without it
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
            on_failure=Callback(f"{__name__}.on_job_failure"),
            on_stopped=Callback(f"{__name__}.on_job_stopped"),
        )
    except Exception as e:
        _forget_job(queue.connection, job_id)
        raise QueueError(redis_error_line(e), run_id) from e
    log.info("run %d queued as job %s on %s", run_id, job_id, queue.name)
    return job_id


def _forget_job(connection: Redis, job_id: str) -> None:
    """Best effort: remove the hash of a job whose enqueue failed half-way."""
    try:
        connection.delete(Job.key_for(job_id))
    except Exception:  # noqa: BLE001 (Redis is already failing; the enqueue error is what matters)
        log.debug("could not remove job %s", job_id)


def submit_run(
    config: RunConfig,
    name: str | None = None,
    group: str | None = None,
    tags: Iterable[str] = (),
    note: str = "",
) -> int:
    """Create a queued run and enqueue it; return its id. The Launch page and `python -m worker submit` call this.

    Raises QueueError before writing anything when Redis does not answer a ping; if enqueueing fails later,
    the run stays in the database marked failed with a one-line reason, and QueueError carries its id.
    Raises ValueError (one line) for a bad setting and ConfigError for a run over the memory budget, also
    before writing anything.
    """
    check_budget(config, Settings.from_env())
    if not redis_available():
        raise QueueError(f"Redis at {safe_redis_url()} is not reachable; start it (make redis) or set REDIS_URL")
    with session_scope() as session:
        run_id = create_run(session, config, name=name, group=group, tags=tags, note=note).id
    try:
        enqueue_run(run_id)
    except QueueError as e:
        with session_scope() as session:
            set_status(session, run_id, RunStatus.FAILED, reason=f"not queued: {e}")
        raise
    return run_id


MAX_SEEDS = 100
"""The most runs one "repeat with N seeds" queues."""


def seed_configs(config: RunConfig, seeds: int) -> list[RunConfig]:
    """`seeds` copies of `config` that differ only in seed: config.seed, config.seed + 1, ... (each validated).

    Raises ValueError for a count outside 1..MAX_SEEDS and ConfigError for a seed past RunConfig's bound.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= MAX_SEEDS:
        raise ValueError(f"seeds must be a whole number from 1 to {MAX_SEEDS}, got {seeds!r}")
    return [RunConfig.from_dict({**config.to_dict(), "seed": config.seed + k}) for k in range(seeds)]


def seeds_group(config: RunConfig, seeds: int, now: datetime) -> str:
    """The group a repeat over seeds files its runs under: 'VGG38 BN+RC × 3 seeds · 2026-11-29 15:20:05'."""
    return f"{config.label} × {seeds} seeds · {now:%Y-%m-%d %H:%M:%S}"


def submit_seeds(
    config: RunConfig,
    seeds: int,
    name: str | None = None,
    group: str | None = None,
    tags: Iterable[str] = (),
    note: str = "",
) -> list[int]:
    """Queue `seeds` runs of `config` differing only in seed (`seed_configs`), as one group; return their ids.

    One seed is a plain `submit_run`. Several are named '<name or label> · seed k' and grouped under `group`,
    or `seeds_group` when none is given. Every config is validated before the first run is written; a queue
    failure part-way raises QueueError, with the runs queued so far left in place.
    """
    configs = seed_configs(config, seeds)
    if seeds == 1:
        return [submit_run(config, name=name, group=group, tags=tags, note=note)]
    group = (group or "").strip() or seeds_group(config, seeds, datetime.now())
    base = (name or "").strip() or config.label
    tags = list(tags)
    return [submit_run(c, name=f"{base} · seed {c.seed}", group=group, tags=tags, note=note) for c in configs]


SWEEP_FUNCTION = "worker.sweep_job.measure_sweep"
"""The depth-sweep job, by import path; its only argument is the sweep id."""

SWEEP_TIMEOUT_S = 3600
"""RQ's wall-time limit for a depth sweep (the default one takes about a minute on a CPU)."""


def submit_sweep(config: SweepConfig) -> int:
    """Create a queued depth sweep and enqueue its job; return its id. Redis down: QueueError before any write;
    an enqueue failing later leaves the sweep failed with a one-line reason."""
    if not redis_available():
        raise QueueError(f"Redis at {safe_redis_url()} is not reachable; start it (make redis) or set REDIS_URL")
    with session_scope() as session:
        sweep = sweeps.create_sweep(session, config)
        sweep_id = sweep.id
        job_id = sweep.job_id = f"vgp-sweep-{sweep_id}-{secrets.token_hex(4)}"
    queue = get_queue()
    try:
        queue.enqueue(
            SWEEP_FUNCTION, sweep_id, job_id=job_id, job_timeout=SWEEP_TIMEOUT_S, result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S, description=f"depth sweep {sweep_id}",
            on_failure=Callback(f"{__name__}.on_sweep_failure"),
        )  # fmt: skip
    except Exception as e:
        _forget_job(queue.connection, job_id)
        with session_scope() as session:
            sweeps.transition_sweep(session, sweep_id, (RunStatus.QUEUED,), RunStatus.FAILED,
                                    f"not queued: {redis_error_line(e)}")  # fmt: skip
        raise QueueError(redis_error_line(e), sweep_id) from e
    return sweep_id


def cancel_sweep(sweep_id: int) -> RunStatus:
    """Cancel a queued or running sweep (a running one stops after the (cure, depth) in hand); its status after."""
    with session_scope() as session:
        job_id = sweeps.require_sweep(session, sweep_id).job_id
        active = (RunStatus.QUEUED, RunStatus.RUNNING)
        cancelled = sweeps.transition_sweep(session, sweep_id, active, RunStatus.CANCELLED, "cancelled by user")
        status = sweeps.require_sweep(session, sweep_id).status
    if cancelled:
        _drop_job(job_id)  # a queued job leaves the queue; a running one is not touched by RQ's cancel
    return status


def on_sweep_failure(job: Job, connection: Redis, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """RQ failure callback of a sweep's job: an exception escaped it, or its worker died; the sweep failed."""
    name = getattr(exc_type, "__name__", "error")
    reason = f"{name}: {exc_value}" if str(exc_value or "") else f"{name} (the worker stopped mid-sweep)"
    with session_scope() as session:
        active = (RunStatus.QUEUED, RunStatus.RUNNING)
        sweeps.transition_sweep(session, int(job.args[0]), active, RunStatus.FAILED, reason, only_job=job.id)


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


def cancel_requested(run_id: int, run_uuid: str | None = None, connection: Redis | None = None) -> bool | None:
    """Whether someone asked the running job for `run_id` to stop; None (falsy, and a warning) when Redis did
    not answer, so that a poller can back off (a Redis outage must not stop training)."""
    try:
        key = cancel_key(run_id, run_uuid)
        return key is not None and bool((connection or get_redis()).exists(key))
    except Exception as e:  # noqa: BLE001
        log.warning("run %d: cannot read the cancel flag (%s: %s)", run_id, type(e).__name__, e)
        return None


POLL_TIMEOUT_S = 2.0
"""Socket timeouts of a job's cancel-poll client (`poll_connection`)."""


def poll_connection() -> Redis:
    """A client of a job's own for its cancel polls, with short socket timeouts: a Redis that hangs (SIGSTOP, a
    half-open connection) then costs a poll POLL_TIMEOUT_S, never freezes training. (A worker's own client
    gets RQ's long dequeue timeout.)"""
    return Redis.from_url(redis_url(), socket_timeout=POLL_TIMEOUT_S, socket_connect_timeout=POLL_TIMEOUT_S)


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
    stopped by its worker on RQ's stop-job command (sent by `worker.reconcile`). A finished run is left as it is.
    Raises RunNotFound, or QueueError when a running run's flag cannot be set.
    """
    run_id = int(run_id)
    with session_scope() as session:
        run = require_run(session, run_id)
        job_id, run_uuid = run.job_id, run.uuid
        cancelled = transition_run(
            session, run_id, (RunStatus.QUEUED, RunStatus.INTERRUPTED), RunStatus.CANCELLED, reason="cancelled by user"
        )
        status = require_run(session, run_id).status
    if cancelled:
        _drop_job(job_id)
        log.info("run %d cancelled before it ran", run_id)
        return RunStatus.CANCELLED
    if status is RunStatus.RUNNING:
        try:
            key = cancel_key(run_id, run_uuid)
            get_redis().set(key, f"{time.time():.3f}", ex=CANCEL_FLAG_TTL_S, nx=True)
        except Exception as e:
            raise QueueError(redis_error_line(e), run_id) from e
        log.info("run %d: cancel requested", run_id)
    return status


def fetch_job(job_id: str, connection: Redis | None = None) -> Job | None:
    """The RQ job with this id (JSON serializer), or None when Redis no longer has it."""
    try:
        return Job.fetch(job_id, connection=connection or get_redis(), serializer=JSONSerializer)
    except NoSuchJobError:
        return None


def _drop_job(job_id: str | None) -> None:
    if not job_id:
        return
    try:
        job = fetch_job(job_id)
        if job is not None:
            job.cancel()
    except Exception as e:  # noqa: BLE001 (the run is cancelled in the database; the job will skip it)
        log.warning("could not remove job %s from the queue (%s: %s)", job_id, type(e).__name__, e)


RESUMABLE = (RunStatus.INTERRUPTED, RunStatus.FAILED, RunStatus.CANCELLED)


def resume_run(run_id: int) -> str:
    """Queue an interrupted, failed or cancelled run again; it continues from its last checkpoint.

    Returns the new job id. Raises RunNotFound, ValueError for other statuses, QueueError if Redis refuses.
    """
    run_id = int(run_id)
    if not redis_available():
        raise QueueError(f"Redis at {safe_redis_url()} is not reachable; start it (make redis) or set REDIS_URL")
    with session_scope() as session:  # refused before anything is touched: a pending cancel stays pending
        if not transition_run(session, run_id, RESUMABLE, RunStatus.QUEUED):
            status = require_run(session, run_id).status
            raise ValueError(f"run {run_id} is {status.value}; only interrupted, failed or cancelled runs resume")
    try:
        clear_cancel_flag(run_id)  # a stopped run's leftover flag must not stop the resumed job
        return enqueue_run(run_id)
    except (QueueError, RedisError) as e:
        line = str(e) if isinstance(e, QueueError) else redis_error_line(e)
        with session_scope() as session:
            set_status(session, run_id, RunStatus.FAILED, reason=f"not queued: {line}")
        raise QueueError(line, run_id) from e


def queue_stats() -> dict[str, int]:
    """{"queued": jobs waiting, "started": jobs running, "workers": workers listening}; raises QueueError."""
    try:
        queue = get_queue()
        return {
            "queued": queue.count,
            "started": queue.started_job_registry.count,
            "workers": Worker.count(connection=queue.connection, queue=queue),
        }
    except Exception as e:
        raise QueueError(redis_error_line(e)) from e


# ---- RQ callbacks, named by string in every enqueued job (so they stay here) ----------------------


def job_run_id(job: Job) -> int | None:
    """The run id a job carries (its only argument), None for a job that is not ours.

    A sweep's job carries a sweep id instead; the callbacks' `only_job` fence keeps it from touching a run.
    """
    try:
        return int(job.args[0])
    except (IndexError, TypeError, ValueError):
        return None


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

    Everything the job recorded so far (epochs, gradients, checkpoints) is kept.
    """
    run_id = job_run_id(job)
    if run_id is None:
        return
    reason = "cancelled by user (the job did not stop on its flag, so its worker stopped it)"
    with session_scope() as session:
        from_statuses = (RunStatus.RUNNING, RunStatus.QUEUED)
        transition_run(session, run_id, from_statuses, RunStatus.CANCELLED, reason, only_job=job.id)
    try:
        clear_cancel_flag(run_id)
    except RedisError:
        log.warning("run %d: cancel flag not cleared (it expires on its own)", run_id)
    log.info("run %d cancelled: its job %s was stopped", run_id, job.id)
