"""What our RQ jobs are: the job functions and their callbacks, by import path, and the Job class that calls no
callback but these. Every Queue and worker of VGP Lab uses it (worker.queue.get_queue, worker.runner.make_worker,
worker.liveness.fetch_job); it imports neither torch nor the store.
"""

from __future__ import annotations

import logging
from typing import Any

from rq.job import Job

log = logging.getLogger(__name__)

JOB_FUNCTION = "worker.jobs.train_run"
"""The job, by import path, so that enqueueing and the worker's parent never import torch."""

SWEEP_FUNCTION = "worker.sweep_job.measure_sweep"
"""The depth-sweep job, by import path; its only argument is the sweep id."""

LANDSCAPE_FUNCTION = "worker.landscape_job.measure_landscape_job"
"""The loss-landscape job, by import path; its only argument is the landscape id."""

JOB_CALLBACKS = {
    JOB_FUNCTION: {"failure": "worker.queue.on_job_failure", "stopped": "worker.queue.on_job_stopped"},
    SWEEP_FUNCTION: {"failure": "worker.queue.on_sweep_failure"},
    LANDSCAPE_FUNCTION: {"failure": "worker.queue.on_landscape_failure"},
}
"""The callbacks each job function is enqueued with, by import path (they live in worker.queue, which every job
already in Redis names); RQ imports them by name."""

MAX_ID = 2**31 - 1
"""The largest run or sweep id: the database's Integer primary keys (int4 on Postgres)."""


def is_id(value: object) -> bool:
    """Whether `value` can be a run or sweep id: an int (not a bool) in 1..MAX_ID. A job's argument is checked
    with this before anything else, so 10**30 or 2**63 is refused, not an OverflowError deep in the database."""
    return type(value) is int and 1 <= value <= MAX_ID


OUR_CALLBACKS = frozenset(name for named in JOB_CALLBACKS.values() for name in named.values())


class OurCallbacksJob(Job):
    """RQ's Job, except that it resolves only our callbacks. RQ imports a callback by the name a job stores in
    Redis, and not only in the worker that runs it: every worker's registry cleaning (and any count of
    the started registry) calls each abandoned job's failure callback. A name planted in Redis
    would be imported and called in that process; here it is logged and skipped, before any import."""

    def _ours(self, kind: str, name: str | None) -> bool:
        if not name or name in OUR_CALLBACKS:
            return True
        log.error("job %s: its %s callback %r is not VGP Lab's; not called", self.id, kind, name[:100])
        return False

    @property
    def success_callback(self) -> Any:
        return super().success_callback if self._ours("success", self._success_callback_name) else None

    @property
    def failure_callback(self) -> Any:
        return super().failure_callback if self._ours("failure", self._failure_callback_name) else None

    @property
    def stopped_callback(self) -> Any:
        return super().stopped_callback if self._ours("stopped", self._stopped_callback_name) else None
