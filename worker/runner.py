"""The worker process: the RQ worker that trains runs (`RunWorker`), and the reconcile thread it runs beside.

`run_worker` (`python -m worker worker`, the Procfile's worker line) forks a work horse per job; the horse dies
with its worker (`_die_with_parent`) and is never forked mid-transaction (FORK_GUARD). If a horse dies, the
worker marks its run interrupted (`worker.rq_jobs.callbacks.on_work_horse_killed`). It runs only our jobs
(`worker.rq_jobs.job_refusal`). Workers heartbeat every VGP_HEARTBEAT_S, which is what `worker.liveness` reads
for `worker.reconcile`; every VGP_RECONCILE_INTERVAL_S a `ReconcileThread` reconciles.

The worker's parent imports no job module, hence no torch, until it accepts its first job (job functions are
named by string; `worker.rq_jobs` checks them first). Then it imports the job modules once (`preload_job_modules`)
and forks every work horse from there, so that a job starts without importing torch again; the parent never
runs torch itself, so its forks stay safe.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import re
import secrets
import signal
import socket
import threading
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, Worker
from rq.job import Job
from rq.serializers import JSONSerializer

from worker.connection import new_redis, queue_name, redis_error_line, require_redis, safe_redis_url
from worker.db import safe_database_url
from worker.queue import get_queue
from worker.reconcile import reconcile_quietly
from worker.rq_jobs import JOB_FUNCTIONS, OurCallbacksJob, job_refusal
from worker.rq_jobs.callbacks import on_work_horse_killed
from worker.settings import Settings

log = logging.getLogger(__name__)


# ---- the worker process ---------------------------------------------------------------------------


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when the thread that forked it exits."""


def _die_with_parent(parent_pid: int) -> None:
    """In a work horse: be SIGKILLed when the worker dies, so a killed worker never leaves an orphan training.

    Linux only (elsewhere a no-op). RQ puts the horse in its own process group, so killing the worker's group
    would not reach it; without this an orphan would go on training a run that nobody monitors or can stop.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the worker died between fork() and prctl()
        os._exit(1)


FORK_GUARD = threading.Lock()
"""Held by the worker's reconcile thread while it talks to the database, and by the worker while it forks a work
horse: a fork in the middle of another thread's SQLite transaction would leave the child believing that its
process holds the write lock, so its first write would wait out the busy timeout and fail."""


def _after_fork_in_child() -> None:
    # A work horse must not inherit FORK_GUARD held at the moment of the fork (the child's copy is never released).
    global FORK_GUARD
    FORK_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def preload_job_modules() -> None:
    """Import the job modules (torch with them) and torch._dynamo, which torch.optim imports when the first
    optimizer is built: about 7 s of CPU on a 2-core machine that every work horse would otherwise spend again.
    Imports only, nothing of torch runs; a module that fails to import is left to the job to report."""
    for module in sorted({path.rsplit(".", 1)[0] for path in JOB_FUNCTIONS} | {"torch._dynamo"}):
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - the job imports it again and fails with the reason
            log.warning("could not preload %s (%s: %s); each job imports it", module, type(e).__name__, e)


class OnlyOurJobs:
    """Mixed into RQ's workers: a job that `worker.rq_jobs.job_refusal` refuses is marked failed with the reason,
    unrun."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        refusal = job_refusal(job)
        if refusal is None:
            super().execute_job(job, queue)  # type: ignore[misc]
            return
        log.error("job %s refused: %s", job.id, refusal)
        self.handle_job_failure(job, queue, exc_string=f"refused by VGP Lab's worker: {refusal}")  # type: ignore[attr-defined]
        queue.intermediate_queue.remove(job.id)  # dequeued but never started: RQ would fail it again later


class RunWorker(OnlyOurJobs, Worker):
    """RQ's forking Worker, with a work horse that dies with it (see `_die_with_parent`), is never forked
    while the reconcile thread is inside a database transaction (see FORK_GUARD), and outlives a Redis outage.
    Runs only our job (OnlyOurJobs); forks from a parent that imported the job modules (`preload_job_modules`)."""

    _preloaded = False

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        _die_with_parent(self._parent_pid)
        super().main_work_horse(job, queue)

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        self._parent_pid = os.getpid()
        if not self._preloaded:
            preload_job_modules()
            self._preloaded = True
        with FORK_GUARD:
            super().fork_work_horse(job, queue)

    def maintain_heartbeats(self, job: Job, execution: Any) -> None:
        """RQ's heartbeat while a horse trains; a Redis outage must not take the worker (and its horse) down:
        the next interval tries again, and reconcile judges a run by its database heartbeat too."""
        try:
            super().maintain_heartbeats(job, execution)
        except (RedisConnectionError, RedisTimeoutError) as e:
            log.warning("worker %s: RQ heartbeat not sent (%s); retrying in %d s", self.name, redis_error_line(e),
                        self.job_monitoring_interval)  # fmt: skip


class SimpleRunWorker(OnlyOurJobs, SimpleWorker):
    """RQ's in-process worker (for tests), running only our job."""


def default_worker_name() -> str:
    """'<host>-gpu<CUDA_VISIBLE_DEVICES>-<random>' (or '<host>-<random>'): unique, and says where a run trained."""
    host = socket.gethostname().split(".")[0] or "worker"
    devices = re.sub(r"[^A-Za-z0-9]+", "-", os.environ.get("CUDA_VISIBLE_DEVICES", "")).strip("-")
    middle = f"-gpu{devices}" if devices else ""
    return f"{host}{middle}-{secrets.token_hex(3)}"[:120]


def make_worker(burst_in_process: bool = False, name: str | None = None) -> Worker:
    """A worker on the run queue: forking (one fresh process per run) or, for tests, in-process SimpleWorker.

    RQ's job_monitoring_interval (how often the worker heartbeats while a job runs) is VGP_HEARTBEAT_S, so
    that `job_alive` can tell a live worker from a dead one within VGP_STALE_AFTER_S.
    """
    queue = get_queue(connection=new_redis())  # its own client: RQ raises its socket timeout above the dequeue's
    worker_class = SimpleRunWorker if burst_in_process else RunWorker
    return worker_class(
        [queue],
        name=name or default_worker_name(),
        connection=queue.connection,
        serializer=JSONSerializer,
        job_class=OurCallbacksJob,
        work_horse_killed_handler=on_work_horse_killed,
        job_monitoring_interval=Settings.from_env().worker_heartbeat_s,
    )


class ReconcileThread(threading.Thread):
    """A daemon thread of the worker process that runs `reconcile_quietly` every `interval_s` seconds until
    `stop()`, holding FORK_GUARD meanwhile so that no work horse is forked mid-transaction."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(name="vgp-reconcile", daemon=True)
        self.interval_s = interval_s
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self.interval_s):
            with FORK_GUARD:
                reconcile_quietly()

    def stop(self) -> None:
        self._stopped.set()


def run_worker(burst: bool = False, in_process: bool = False) -> bool:
    """Work the run queue until stopped (or, with burst, until it is empty). The Procfile's `worker` line.

    Forking (the default) keeps CUDA out of the parent: each run trains in a fresh work horse. One worker per
    GPU: start each with its own CUDA_VISIBLE_DEVICES. At start, and then every VGP_RECONCILE_INTERVAL_S from a
    thread, the worker runs `worker.reconcile.reconcile` (dead runs interrupted and resumed, lost jobs queued
    again, stuck cancels stopped).
    """
    require_redis()
    settings = Settings.from_env()
    worker = make_worker(burst_in_process=in_process)
    devices = os.environ.get("CUDA_VISIBLE_DEVICES")
    log.info(
        "worker %s on queue %s at %s, database %s, CUDA_VISIBLE_DEVICES=%s",
        worker.name, queue_name(), safe_redis_url(), safe_database_url(), "(unset)" if devices is None else devices,
    )  # fmt: skip
    reconcile_quietly()
    reconcile_thread = ReconcileThread(settings.reconcile_interval_s)
    reconcile_thread.start()
    try:
        return worker.work(burst=burst, logging_level="INFO", with_scheduler=False)
    finally:
        reconcile_thread.stop()
