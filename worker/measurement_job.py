"""What the jobs of depth sweeps and loss landscapes share: a stored item (not a run) that a job claims from queued,
fences every write by its job id, checks for cancellation between steps, and ends as a status with a one-line
reason. `worker.sweep_job` and `worker.landscape_job` each give it their store's `require` and `transition`."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from vgp_models.config import ConfigError
from vgp_models.data import DataError
from vgp_models.metrics import CheckpointMismatch
from worker.db import session_scope
from worker.liveness import current_job_id, current_worker_name
from worker.schema import RunStatus
from worker.store import squash

log = logging.getLogger(__name__)

EXPECTED = (ConfigError, DataError, CheckpointMismatch, LookupError)
"""Failures that are the input's, not a bug: their message alone is the reason (no traceback in the log)."""


class MeasurementJob:
    """One job's hold on the stored item `item_id` of `noun` ("sweep", "landscape")."""

    def __init__(self, noun: str, item_id: int, require: Callable[..., Any], transition: Callable[..., bool]) -> None:
        self.noun, self.item_id, self.require, self.transition = noun, int(item_id), require, transition
        self.job_id = current_job_id()

    def claim(self) -> dict[str, Any] | None:
        """Move the item from queued to running under this job; its stored config, or None when it was not queued."""
        worker_name = (current_worker_name() or f"{socket.gethostname()}:{os.getpid()}")[:200]
        with session_scope() as session:
            stored = dict(self.require(session, self.item_id).config)
            claimed = self.transition(session, self.item_id, (RunStatus.QUEUED,), RunStatus.RUNNING,
                                      only_job=self.job_id, worker_name=worker_name)  # fmt: skip
        if not claimed:
            log.warning("%s %d is not queued under this job; skipping it", self.noun, self.item_id)
        return stored if claimed else None

    def set_device(self, device: object) -> None:
        with session_scope() as session:
            self.transition(session, self.item_id, (RunStatus.RUNNING,), RunStatus.RUNNING, only_job=self.job_id,
                            device=str(device))  # fmt: skip

    def should_stop(self) -> bool:
        """Checked between steps: a cancelled item is no longer running."""
        with session_scope() as session:
            return self.require(session, self.item_id).status is not RunStatus.RUNNING

    def finish(self, status: RunStatus, reason: str | None = None) -> str:
        with session_scope() as session:
            done = self.transition(session, self.item_id, (RunStatus.RUNNING,), status, reason, only_job=self.job_id)
        return status.value if done else "superseded"

    def run(self, measure: Callable[[dict[str, Any]], None]) -> str:
        """Claim the item, `measure(stored config)`, and end it completed or failed; the final status."""
        stored = self.claim()
        if stored is None:
            return "skipped"
        try:
            measure(stored)
        except EXPECTED as e:
            return self.finish(RunStatus.FAILED, squash(e))
        except Exception as e:  # includes RQ's JobTimeoutException
            log.exception("%s %d crashed", self.noun, self.item_id)
            return self.finish(RunStatus.FAILED, squash(f"{type(e).__name__}: {e}"))
        return self.finish(RunStatus.COMPLETED)
