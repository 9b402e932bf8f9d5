"""Loss landscapes in the store: create, move through the run statuses, record points, and the landscapes a run
folder carries (imported finished); `worker.frames` reads them as frames.

A landscape lives beside the runs, as a depth sweep does (it trains nothing), with an optional run_id (the run
whose checkpoint it probes; None for a fresh net); its progress is points_done of points_total. Never imports torch.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from vgp_models.landscape_config import LandscapeConfig
from worker.schema import CheckpointRow, Landscape, LandscapePointRow, Run, RunStatus, utcnow
from worker.store import checkpoint_dir, finite, transition_row


class LandscapeNotFound(LookupError):
    def __init__(self, landscape_id: int) -> None:
        super().__init__(f"no landscape with id {landscape_id}")


def create_landscape(session: Session, config: LandscapeConfig, status: RunStatus = RunStatus.QUEUED) -> Landscape:
    """Add a landscape (queued; flushed, so `.id` is set)."""
    row = Landscape(run_id=config.run_id, config=config.to_dict(), status=status, created_at=utcnow(),
                    points_total=config.total, points_done=0)  # fmt: skip
    session.add(row)
    session.flush()
    return row


def require_landscape(session: Session, landscape_id: int) -> Landscape:
    row = session.get(Landscape, int(landscape_id))
    if row is None:
        raise LandscapeNotFound(landscape_id)
    return row


def transition_landscape(
    session: Session, landscape_id: int, from_statuses: Iterable[RunStatus], to_status: RunStatus,
    reason: str | None = None, *, only_job: str | None = None, **fields: Any,
) -> bool:  # fmt: skip
    """Atomically move a landscape to `to_status` if its status is one of `from_statuses` (and, with `only_job`,
    it still belongs to that job); False otherwise."""
    return transition_row(session, Landscape, landscape_id, from_statuses, to_status, reason, only_job=only_job,
                          **fields)  # fmt: skip


def checkpoint_kept(session: Session, run: Run, kind: str) -> bool:
    """Whether `run` keeps its `kind` checkpoint, as a database row or a file (without reading either)."""
    row = session.scalar(select(CheckpointRow.kind).where(CheckpointRow.run_id == run.id, CheckpointRow.kind == kind))
    return row is not None or (checkpoint_dir(run.uuid) / f"{kind}.pt").is_file()


def record_points(session: Session, landscape_id: int, points: Iterable[Any], done: int) -> None:
    """Write points (objects with i, j, alpha, beta, loss, acc), replacing earlier copies of the same (i, j)
    (idempotent), and advance points_done to `done` and the heartbeat."""
    points = list(points)
    p = LandscapePointRow
    keys = [(int(x.i), int(x.j)) for x in points]
    if keys:
        session.execute(delete(p).where(p.landscape_id == landscape_id, tuple_(p.i, p.j).in_(keys)))
    session.add_all(
        p(landscape_id=landscape_id, i=int(x.i), j=int(x.j), alpha=float(x.alpha),
          beta=None if x.beta is None else float(x.beta), loss=finite(x.loss), acc=finite(x.acc))
        for x in points
    )  # fmt: skip
    session.execute(update(Landscape).where(Landscape.id == landscape_id).values(points_done=done,
                                                                                 heartbeat_at=utcnow()))  # fmt: skip
    session.flush()


def add_finished(session: Session, config: LandscapeConfig, points: list[dict[str, Any]], **fields: Any) -> int:
    """A completed landscape with all its points (dicts with `worker.frames.LANDSCAPE_POINT_COLUMNS` but
    landscape_id: a run folder's, `worker.importer`); returns its id."""
    row = create_landscape(session, config, RunStatus.COMPLETED)
    row.started_at = row.finished_at = row.created_at
    for key, value in fields.items():
        setattr(row, key, value)
    record_points(session, row.id, [SimpleNamespace(**p) for p in points], len(points))
    return int(row.id)
