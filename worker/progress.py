"""Progress inside an epoch: the job's `on_step` callback writes step k of N to the run, at most every few seconds,
with the per-step loss points read since the last write (`on_points`, vgp_models.step_log), and reads back in the
same statement whether someone asked the run to stop (runs.cancel_requested_at: `cancel_requested`, which the job's
`should_stop` returns, `worker.jobs.StopPoller`).

A VGG38 epoch on a CPU takes minutes, so the dashboard's progress, ETA and per-step curve follow the steps, not
only the epochs. Throttled: one small UPDATE (and the new step rows) at an epoch's first and last step and at most
every STEP_WRITE_S between. The epoch's own write (store.record_epoch) writes its points again, idempotently.
While the database does not answer, writes back off (doubling up to WRITE_BACKOFF_MAX_S) and training goes on.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import update

from vgp_models.metrics import StepPoint
from worker.db import session_scope
from worker.schema import Run, RunStatus, utcnow
from worker.store import record_steps

log = logging.getLogger(__name__)

STEP_WRITE_S = 2.0
"""Seconds between two progress writes of one run (the pages promise an update at least every 5 s); a Cancel is
seen this long after it was asked, at most (or one step, when a step takes longer)."""

WRITE_BACKOFF_MAX_S = 30.0
"""While the database does not answer, the write interval doubles up to this (training goes on meanwhile)."""


class StepWriter:
    """The `on_step(step, steps)` and `on_points(points)` callbacks of one run's job, and `cancel_requested` as of
    the last write; a database error is logged, never raised (points not written then come with the next write, or
    with the epoch's)."""

    def __init__(self, run_id: int, job_id: str | None = None, every_s: float = STEP_WRITE_S) -> None:
        self.run_id, self.job_id, self.every_s = run_id, job_id, every_s
        self.cancel_requested = False
        self._every = every_s
        self._last = -float("inf")
        self._points: list[StepPoint] = []

    def on_points(self, points: list[StepPoint]) -> None:
        self._points.extend(points)

    def __call__(self, step: int, steps: int) -> None:
        now = time.monotonic()
        backing_off = self._every > self.every_s
        if now - self._last < self._every and (backing_off or step not in (1, steps)):
            return
        self._last = now
        # epoch_started_at is stamped when the first step is done: the rate is then (now - it) / (k - 1) steps,
        # free of the first step's warm-up.
        values = {"epoch_step": step, "epoch_steps": steps, **({"epoch_started_at": utcnow()} if step == 1 else {})}
        query = update(Run).where(Run.id == self.run_id, Run.status == RunStatus.RUNNING)
        if self.job_id is not None:
            query = query.where(Run.job_id == self.job_id)
        query = query.values(**values).returning(Run.cancel_requested_at)
        try:
            with session_scope() as session:
                owned = session.execute(query.execution_options(synchronize_session=False)).first()
                if owned and self._points:  # only while the run is this job's, as the progress
                    record_steps(session, self.run_id, self._points)
            self._points = []
        except Exception as e:  # noqa: BLE001 (a busy database must not stop training)
            log.warning("run %d: progress not written (%s: %s)", self.run_id, type(e).__name__, e)
            self._every = min(max(2 * self._every, 1.0), WRITE_BACKOFF_MAX_S)
            return
        self._every = self.every_s
        if owned and owned.cancel_requested_at is not None and not self.cancel_requested:
            log.info("run %d: cancel requested; stopping", self.run_id)
            self.cancel_requested = True
