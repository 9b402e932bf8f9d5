"""Depth sweeps in the store: create, move through the run statuses, record each (cure, depth), read as frames.

A sweep lives beside the runs, not among them (it has no RunConfig and trains nothing), but moves through the same
statuses; its progress is cells_done of cells_total (cure, depth) pairs. Never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vgp_models.sweep_config import SweepConfig
from vgp_models.vanishing import gradient_ratio
from worker.schema import RunStatus, Sweep, SweepPointRow, utcnow
from worker.store import finite, squash, transition_row

SWEEP_COLUMNS = ("id", "status", "reason", "created_at", "started_at", "finished_at", "heartbeat_at", "cells_total",
                 "cells_done", "device", "worker_name", "config")  # fmt: skip
POINT_COLUMNS = ("sweep_id", "cure", "depth", "seed", "first", "last", "ratio", "last_signal_std", "note")


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


def sweeps_frame(session: Session) -> pd.DataFrame:
    """Every sweep, newest first: SWEEP_COLUMNS (status as text)."""
    rows = [
        {c: (s.status.value if c == "status" else getattr(s, c)) for c in SWEEP_COLUMNS}
        for s in session.scalars(select(Sweep).order_by(Sweep.id.desc()))
    ]
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def points_frame(session: Session, sweep_id: int) -> pd.DataFrame:
    """A sweep's points (POINT_COLUMNS): first and last weight's mean |grad|, their ratio and the last conv's
    forward signal (NaN where skipped or undefined), in measuring order (cure as the sweep lists them, then depth,
    then seed)."""
    p = SweepPointRow
    query = select(p.sweep_id, p.cure, p.depth, p.seed, p.first_grad, p.last_grad, p.last_signal_std,
                   p.note).where(p.sweep_id == sweep_id)  # fmt: skip
    columns = ["sweep_id", "cure", "depth", "seed", "first", "last", "last_signal_std", "note"]
    frame = pd.DataFrame([tuple(r) for r in session.execute(query)], columns=columns)
    frame = frame.astype({"sweep_id": "int64", "depth": "int64", "seed": "int64", "first": "float64",
                          "last": "float64", "last_signal_std": "float64"})  # fmt: skip
    frame["ratio"] = gradient_ratio(frame["first"], frame["last"])
    order = {cure: i for i, cure in enumerate(require_sweep(session, sweep_id).config.get("cures", []))}
    frame = frame.sort_values(["depth", "seed"]).sort_values("cure", key=lambda c: c.map(order), kind="stable")
    return frame[list(POINT_COLUMNS)].reset_index(drop=True)
