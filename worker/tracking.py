"""The database sink of a tracked run (`vgp_models.track`): a `runs` row with origin tracked, written live.

The user's own loop runs the training; this writes what it reports, and needs no Redis and no worker. Every write
happens on one background thread, so a step never waits on the database: the run row at the start, per-step points
with a heartbeat and the progress every POLL_S (a SIGKILLed process stops the heartbeat, and `worker.reconcile`
marks its run interrupted, never queued again), each epoch, the end. The same beat reads runs.cancel_requested_at
(the dashboard's Cancel, `worker.cancellation.cancel_run`), which the Run turns into RunCancelled at its next step.
A write that fails on an outage is retried as the worker does (`worker.outage`, VGP_OUTAGE_S); past that, or on
any other error, `broken` says why in one line and the Run goes on into a run folder.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
import time
from typing import Any

from sqlalchemy import select, update

from vgp_models.error_lines import error_line, first_line
from vgp_models.metrics import EpochMetrics, StepPoint, TrainResult
from vgp_models.track_sink import Progress, RunInfo
from worker.db import database_url, migration_hint, safe_database_url, session_scope
from worker.outage import retrying
from worker.schema import Run, RunOrigin, RunStatus, utcnow
from worker.settings import Settings
from worker.store import record_epoch, record_steps, squash, transition_run

__all__ = ["POLL_S", "DatabaseSink"]

log = logging.getLogger(__name__)

POLL_S = 2.0
"""Seconds between two beats: new per-step points, the heartbeat, the progress, and the cancel poll."""

_ENDS_FROM = (RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.DIVERGED, RunStatus.CANCELLED)
"""A tracked run's end is written over these: only its own process writes it, whatever reconcile or Cancel did."""


class Unmigrated(RuntimeError):
    """The database has no (or an older) VGP Lab schema: `python -m worker migrate` first."""


class DatabaseSink:
    """`vgp_models.track_sink.Sink` into the database at `url` (DATABASE_URL by default)."""

    def __init__(self, url: str | None = None, poll_s: float = POLL_S, outage_s: float | None = None) -> None:
        self.url = database_url(url)
        self.where = f"the database {safe_database_url(self.url)}"
        self.broken: str | None = None
        self.cancelled = False
        self.run_id: int | None = None
        self.poll_s = poll_s
        self.outage_s = Settings.from_env().outage_s if outage_s is None else outage_s
        self._ops: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._points: list[StepPoint] = []  # the epoch's points so far, as the Run last gave them
        self._progress: Progress | None = None
        self._written = 0  # the last step written
        self._thread = threading.Thread(target=self._loop, name="vgp-track-writer", daemon=True)

    # ---- the Sink protocol: called by the Run, never blocks (but finish, which waits for the writes) ----------

    def start(self, info: RunInfo) -> None:
        self._ops.put(("create", info))
        self._thread.start()

    def steps(self, points: list[StepPoint], progress: Progress) -> None:
        with self._lock:
            self._points, self._progress = points, progress

    def epoch(self, metrics: EpochMetrics) -> None:
        with self._lock:
            self._progress = None  # the epoch's write resets runs.epoch_step; the next epoch's steps say more
        self._ops.put(("epoch", metrics))

    def diverged(self, step: int, reason: str) -> None:
        self._ops.put(("diverged", (step, reason)))

    def finish(self, result: TrainResult) -> None:
        """Write the end and wait for every write (an outage can hold them up to VGP_OUTAGE_S)."""
        self._ops.put(("finish", result))
        self._ops.put(None)
        self._thread.join(self.outage_s + 60.0)
        if self._thread.is_alive() and self.broken is None:
            self.broken = f"the database did not take the run's end within {self.outage_s + 60:g} s"

    # ---- the writer thread ------------------------------------------------------------------------------

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while True:
            try:
                op = self._ops.get(timeout=self.poll_s)
            except queue.Empty:
                op = ("beat", None)
            if op is None:
                return
            if self.broken is not None:
                continue  # drained unwritten: the Run has everything in a folder
            kind, arg = op
            try:
                retrying(f"tracked run {self.run_id or ''}: {kind}", lambda k=kind, a=arg: self._write(k, a),
                         self.outage_s)  # fmt: skip
                if kind != "beat" and time.monotonic() - last_beat >= self.poll_s:
                    retrying(f"tracked run {self.run_id}: beat", lambda: self._write("beat", None), self.outage_s)
                    last_beat = time.monotonic()
                elif kind == "beat":
                    last_beat = time.monotonic()
            except Exception as e:  # noqa: BLE001 (nothing may reach the user's training; the Run reads `broken`)
                self.broken = squash(error_line(e), 300)
                log.warning("tracked run %s: %s", self.run_id, self.broken)

    def _write(self, kind: str, arg: Any) -> None:
        try:
            self._write_once(kind, arg)
        except Exception as e:
            if migration_hint(e):  # SQLite's "no such table" is an OperationalError, but no outage: never retried
                raise Unmigrated(f"{first_line(e)}{migration_hint(e)}") from e
            raise

    def _write_once(self, kind: str, arg: Any) -> None:
        if kind == "create":
            with session_scope(self.url) as session:
                run_id = self._create(session, arg)
            self.run_id = run_id  # once committed: others may act on it from now on
            print(f"VGP Lab: run #{run_id} ({arg.name}) is live in {self.where}", file=sys.stderr)
            return
        with session_scope(self.url) as session:
            if self.run_id is None:
                return
            if kind in ("beat", "finish"):
                self._beat(session)
            if kind == "epoch":
                self._epoch(session, arg)
            elif kind == "diverged":
                step, reason = arg
                transition_run(session, self.run_id, (RunStatus.RUNNING, RunStatus.INTERRUPTED), RunStatus.DIVERGED,
                               reason, diverged_step=step)  # fmt: skip
            elif kind == "finish":
                self._finish(session, arg)

    def _create(self, session: Any, info: RunInfo) -> int:
        existing = session.scalar(select(Run.id).where(Run.uuid == info.uuid))  # a retried create that had landed
        if existing is None:
            now = utcnow()
            run = Run(
                uuid=info.uuid, name=info.name, config=info.config, origin=RunOrigin.TRACKED, status=RunStatus.RUNNING,
                created_at=now, started_at=now, heartbeat_at=now, epochs_total=info.epochs or 0, epochs_done=0,
                params=info.params, device=info.device[:32], worker_name=f"{socket.gethostname()}:{os.getpid()}"[:200],
                git_sha=info.git_commit,
            )  # fmt: skip
            session.add(run)
            session.flush()
            existing = run.id
        return int(existing)

    def _beat(self, session: Any) -> None:
        """New points, the heartbeat and the progress; then whether someone cancelled the run."""
        with self._lock:
            points, progress = [p for p in self._points if p.step > self._written], self._progress
        if points:
            record_steps(session, self.run_id, points)
        now = utcnow()
        # Marked interrupted while the database was away (its heartbeat went stale): the process is alive after all.
        session.execute(
            update(Run).where(Run.id == self.run_id, Run.status == RunStatus.INTERRUPTED)
            .values(status=RunStatus.RUNNING, reason=None, finished_at=None)
        )  # fmt: skip
        values: dict[str, Any] = {"heartbeat_at": now}
        if progress is not None:
            values.update(epoch_step=progress.epoch_step, epoch_steps=progress.epoch_steps,
                          epoch_started_at=progress.epoch_started_at)  # fmt: skip
        session.execute(update(Run).where(Run.id == self.run_id, Run.status == RunStatus.RUNNING).values(**values))
        row = session.execute(select(Run.status, Run.cancel_requested_at).where(Run.id == self.run_id)).first()
        self.cancelled = row is None or row.cancel_requested_at is not None or row.status is RunStatus.CANCELLED
        if points:
            self._written = max(p.step for p in points)

    def _epoch(self, session: Any, metrics: EpochMetrics) -> None:
        record_epoch(session, self.run_id, metrics)
        session.execute(
            update(Run).where(Run.id == self.run_id, Run.epochs_total < metrics.epochs)
            .values(epochs_total=metrics.epochs)
        )  # fmt: skip
        self._written = max([self._written, *(p.step for p in metrics.steps)])

    def _finish(self, session: Any, result: TrainResult) -> None:
        status = RunStatus(result.status)
        fields: dict[str, Any] = {"diverged_step": result.diverged_step}
        if status is RunStatus.COMPLETED:
            fields.update(best_epoch=result.best_epoch, best_val_acc=result.best_val_acc, test_loss=result.test_loss,
                          test_acc=result.test_acc)  # fmt: skip
        reason = None if status is RunStatus.COMPLETED else result.message
        transition_run(session, self.run_id, _ENDS_FROM, status, reason, **fields)
        session.execute(
            update(Run).where(Run.id == self.run_id, Run.epochs_total < result.epochs_run)
            .values(epochs_total=result.epochs_run)
        )  # fmt: skip
