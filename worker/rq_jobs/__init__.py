"""Our RQ jobs in one room: what is enqueued, what a worker accepts, and the callbacks RQ may call.

- Here: the job functions and their callbacks by import path (`JOB_FUNCTIONS`, `JOB_CALLBACKS`), ids
  (`is_id`), the allow-list every worker applies before it imports anything a job names (`job_refusal`), the Job
  class that resolves no callback but ours (`OurCallbacksJob`: every Queue, registry and worker of VGP Lab uses it),
  and fetching a job through it (`fetch_job`). It never imports torch.
- `callbacks.py`: the callbacks themselves (a job failed, was stopped, or its work horse died), which fix the
  stored row of its run, sweep or landscape.
- Beside this package, the job bodies, each run in a forked work horse: `worker/jobs.py` (train a run),
  `worker/sweep_job.py` and `worker/landscape_job.py`, which share `worker/measurement_job.py`.

`worker.queue` enqueues with these names; `worker.runner` runs the worker that applies them.
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.utils import import_attribute

from worker.connection import get_redis

log = logging.getLogger(__name__)

JOB_FUNCTION = "worker.jobs.train_run"
"""The job, by import path, so that enqueueing never imports torch, and a worker only once it accepted a job."""

SWEEP_FUNCTION = "worker.sweep_job.measure_sweep"
"""The depth-sweep job, by import path; its only argument is the sweep id."""

LANDSCAPE_FUNCTION = "worker.landscape_job.measure_landscape_job"
"""The loss-landscape job, by import path; its only argument is the landscape id."""

JOB_FUNCTIONS = frozenset({JOB_FUNCTION, SWEEP_FUNCTION, LANDSCAPE_FUNCTION})
"""The only functions a worker runs. RQ imports and calls whatever a job names, so anyone who can write to
Redis could otherwise run code on every worker; jobs are checked (`job_refusal`) before anything they name is
imported. These paths are stored in Redis with every job: a job body that moves must leave its path importable."""

CALLBACKS = "worker.rq_jobs.callbacks"

JOB_CALLBACKS = {
    JOB_FUNCTION: {"failure": f"{CALLBACKS}.on_job_failure", "stopped": f"{CALLBACKS}.on_job_stopped"},
    SWEEP_FUNCTION: {"failure": f"{CALLBACKS}.on_sweep_failure"},
    LANDSCAPE_FUNCTION: {"failure": f"{CALLBACKS}.on_landscape_failure"},
}
"""The callbacks each job function is enqueued with, by import path; RQ imports them by name."""

MOVED_CALLBACKS = {
    "worker.queue.on_job_failure": f"{CALLBACKS}.on_job_failure",
    "worker.queue.on_job_stopped": f"{CALLBACKS}.on_job_stopped",
    "worker.queue.on_sweep_failure": f"{CALLBACKS}.on_sweep_failure",
    "worker.queue.on_landscape_failure": f"{CALLBACKS}.on_landscape_failure",
}
"""Callback paths that jobs enqueued by earlier versions carry in Redis -> where those callbacks live now."""

OUR_CALLBACKS = frozenset(name for named in JOB_CALLBACKS.values() for name in named.values())

MAX_ID = 2**31 - 1
"""The largest run, sweep or landscape id: the database's Integer primary keys (int4 on Postgres)."""


def is_id(value: object) -> bool:
    """Whether `value` can be a run, sweep or landscape id: an int (not a bool) in 1..MAX_ID. A job's argument is
    checked with this before anything else, so 10**30 or 2**63 is refused, not an OverflowError deep in the
    database."""
    return type(value) is int and 1 <= value <= MAX_ID


def callback_path(name: str) -> str:
    """Where the callback a job names lives now (an earlier version's path maps through MOVED_CALLBACKS)."""
    return MOVED_CALLBACKS.get(name, name)


def job_refusal(job: Job) -> str | None:
    """Why a worker must not run `job`, or None: its function must be in JOB_FUNCTIONS, its arguments exactly one
    id (`is_id`), and its callbacks those its function is enqueued with. Reads only the job's JSON, so nothing it
    names is imported."""
    try:
        func, instance, args, kwargs = job.func_name, job.instance, job.args, job.kwargs
        callbacks = {
            "success": job._success_callback_name,
            "failure": job._failure_callback_name,
            "stopped": job._stopped_callback_name,
        }
    except Exception as e:  # noqa: BLE001 (a job whose data does not even decode is refused, not crashed on)
        return f"its data does not decode ({type(e).__name__})"
    if func not in JOB_FUNCTIONS or instance is not None:
        return f"it names the function {str(func)[:100]!r}; this worker runs only {', '.join(sorted(JOB_FUNCTIONS))}"
    if kwargs or not isinstance(args, (list, tuple)) or len(args) != 1 or not is_id(args[0]):
        return f"its arguments must be exactly one run id (an int from 1 to {MAX_ID})"
    expected = JOB_CALLBACKS.get(func, JOB_CALLBACKS[JOB_FUNCTION])
    for kind, name in callbacks.items():
        if name and callback_path(name) != expected.get(kind):
            return f"its {kind} callback {name[:100]!r} is not VGP Lab's"
    return None


class OurCallbacksJob(Job):
    """RQ's Job, except that it resolves only our callbacks. RQ imports a callback by the name a job stores in
    Redis, and not only in the worker that runs it: every worker's registry cleaning (and any count of
    the started registry) calls each abandoned job's failure callback. A name planted in Redis
    would be imported and called in that process; here it is logged and skipped, before any import.
    An earlier version's path of one of ours resolves to where it lives now (`callback_path`)."""

    def _our_callback(self, kind: str, name: str | None) -> Any:
        if not name:
            return None
        path = callback_path(name)
        if path not in OUR_CALLBACKS:
            log.error("job %s: its %s callback %r is not VGP Lab's; not called", self.id, kind, name[:100])
            return None
        return import_attribute(path)

    @property
    def success_callback(self) -> Any:
        return self._our_callback("success", self._success_callback_name)

    @property
    def failure_callback(self) -> Any:
        return self._our_callback("failure", self._failure_callback_name)

    @property
    def stopped_callback(self) -> Any:
        return self._our_callback("stopped", self._stopped_callback_name)


def fetch_job(job_id: str, connection: Redis | None = None) -> Job | None:
    """The RQ job with this id (JSON serializer, `OurCallbacksJob`), or None when Redis no longer has it."""
    try:
        return OurCallbacksJob.fetch(job_id, connection=connection or get_redis(), serializer=JSONSerializer)
    except NoSuchJobError:
        return None
