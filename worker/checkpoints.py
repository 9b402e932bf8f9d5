"""Checkpoints in the database, so that any worker host resumes any run with nothing shared but Postgres.

`DbCheckpoints` is the job's checkpoint store (vgp_models.checkpoints' seam) when VGP_CHECKPOINT_STORE=db, the
default: each epoch's metrics, gradient rows and `last` checkpoint (and `best`, on a val gain) are written in
ONE transaction, fenced by the job id, so an epoch is recorded exactly once by construction and a written-off
job writes nothing. The write is retried through a database outage (worker.outage), holding the bytes in memory.
On resume the `last` row's bytes must match its sha256 and the run's uuid, or the run fails with one line.

VGP_CHECKPOINT_STORE (db | files: VGP_CHECKPOINT_DIR/<run uuid>/last.pt, shared storage needed) and
VGP_KEEP_CHECKPOINTS (best | none: what a completed run keeps) are read and checked by worker.settings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from vgp_models.checkpoints import KINDS, from_bytes, to_bytes
from vgp_models.metrics import CheckpointMismatch, EpochMetrics
from worker.db import session_scope
from worker.outage import retrying
from worker.settings import keep_setting
from worker.store import checkpoint_dir, get_checkpoint, prune_checkpoints, put_checkpoint, record_epoch

__all__ = ["DbCheckpoints", "prune_completed"]

KEPT_KINDS = {"best": ("best",), "none": ()}  # VGP_KEEP_CHECKPOINTS -> the checkpoint kinds a completed run keeps


class DbCheckpoints:
    """A run's checkpoints as rows of the `checkpoints` table; `on_recorded(metrics)` runs after each commit.
    `job_id` fences every write (None: no fence, outside RQ)."""

    def __init__(
        self, run_id: int, run_uuid: str, job_id: str | None,
        on_recorded: Callable[[EpochMetrics], None] | None = None, url: str | None = None,
    ) -> None:  # fmt: skip
        self.run_id, self.run_uuid, self.job_id = run_id, run_uuid, job_id
        self.on_recorded, self.url = on_recorded, url  # url: DATABASE_URL when None

    def __str__(self) -> str:
        return f"run {self.run_id}'s checkpoint in the database"

    def _read_last(self) -> tuple[bytes, str, str] | None:
        with session_scope(self.url) as session:
            row = get_checkpoint(session, self.run_id, "last")
            return None if row is None else (row.data, row.sha256, row.run_uuid)

    def load(self, device: torch.device | str) -> dict | None:
        found = retrying(f"run {self.run_id}: reading its checkpoint", self._read_last)
        if found is None:
            return None
        data, sha256, run_uuid = found
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CheckpointMismatch(f"{self} is corrupt (its bytes do not match their sha256); it was not resumed")
        if run_uuid != self.run_uuid:
            raise CheckpointMismatch(f"{self} belongs to run uuid {run_uuid}, not {self.run_uuid}; it was not resumed")
        return from_bytes(data, device)

    def save(self, metrics: EpochMetrics, last: dict, best: dict | None) -> None:
        blobs = {"last": to_bytes(last)}  # serialised once, kept here until the write lands
        if best is not None:
            blobs["best"] = to_bytes(best)

        def write() -> None:
            with session_scope(self.url) as session:  # one transaction: the epoch and its checkpoints, or nothing
                record_epoch(session, self.run_id, metrics, job_id=self.job_id)
                for kind, data in blobs.items():
                    put_checkpoint(session, self.run_id, kind, metrics.epoch, self.run_uuid, data)

        retrying(f"run {self.run_id}: writing epoch {metrics.epoch}", write)
        if self.on_recorded is not None:
            self.on_recorded(metrics)


def prune_completed(run_id: int, run_uuid: str) -> int:
    """Drop what a completed run no longer needs (VGP_KEEP_CHECKPOINTS), rows and files; returns the rows deleted."""
    keep = KEPT_KINDS[keep_setting()]
    for kind in KINDS:  # VGP_CHECKPOINT_STORE=files, or files left from before
        if kind not in keep:
            (checkpoint_dir(run_uuid) / f"{kind}.pt").unlink(missing_ok=True)
    return retrying(f"run {run_id}: pruning its checkpoints", lambda: _prune(run_id, keep))


def _prune(run_id: int, keep: tuple[str, ...]) -> int:
    with session_scope() as session:
        return prune_checkpoints(session, run_id, keep)
