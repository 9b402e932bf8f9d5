"""Depth sweeps in the store: create, move through the run statuses, record each (cure, depth); `worker.frames`
reads them as frames.

A sweep lives beside the runs, not among them (it has no RunConfig and trains nothing), but moves through the same
statuses; its progress is cells_done of cells_total (cure, depth) pairs. Never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from vgp_models.sweep_config import SweepConfig
from worker.schema import RunStatus, Sweep, SweepPointRow, utcnow
from worker.store import finite, squash, transition_row


class SweepNotFound(LookupError):
    def __init__(self, sweep_id: int) -> None:
        super().__init__(f"no sweep with id {sweep_id}")


def create_sweep(session: Session, config: SweepConfig) -> Sweep:
    """Add a queued sweep (flushed, so `.id` is set)."""
    sweep = Sweep(config=config.to_dict(), status=RunStatus.QUEUED, created_at=utcnow(),
                  cells_total=len(config.cells()), cells_done=0)  # fmt: skip
    session.add(sweep)
    session.flush()
    return sweep


def require_sweep(session: Session, sweep_id: int) -> Sweep:
    sweep = session.get(Sweep, int(sweep_id))
    if sweep is None:
        raise SweepNotFound(sweep_id)
    return sweep


def transition_sweep(
    session: Session, sweep_id: int, from_statuses: Iterable[RunStatus], to_status: RunStatus,
    reason: str | None = None, *, only_job: str | None = None, **fields: Any,
) -> bool:  # fmt: skip
    """Atomically move a sweep to `to_status` if its status is one of `from_statuses` (and, with `only_job`, it
    still belongs to that job); False otherwise (`worker.store.transition_row`)."""
    return transition_row(session, Sweep, sweep_id, from_statuses, to_status, reason, only_job=only_job, **fields)


def record_cell(session: Session, sweep_id: int, points: Iterable[Any], done: int) -> None:
    """Write one (cure, depth)'s points (objects with cure, depth, seed, first, last, note and optionally
    last_signal_std), replacing an earlier copy (idempotent), and advance cells_done to `done` and the heartbeat."""
    points = list(points)
    for cure, depth in {(p.cure, p.depth) for p in points}:
        session.execute(delete(SweepPointRow).where(SweepPointRow.sweep_id == sweep_id, SweepPointRow.cure == cure,
                                                    SweepPointRow.depth == depth))  # fmt: skip
    session.add_all(
        SweepPointRow(sweep_id=sweep_id, cure=p.cure, depth=int(p.depth), seed=int(p.seed), first_grad=finite(p.first),
                      last_grad=finite(p.last), last_signal_std=finite(getattr(p, "last_signal_std", None)),
                      note=squash(p.note) if p.note else "")
        for p in points
    )  # fmt: skip
    session.execute(update(Sweep).where(Sweep.id == sweep_id).values(cells_done=done, heartbeat_at=utcnow()))
    session.flush()
