"""The store's write side: runs and their life (create, status moves, edits, delete) and per-epoch metrics.

The database owns run state. Timestamps are UTC and come back timezone-aware on both backends; accuracies are
fractions 0..1; a non-finite float (a diverging loss) is stored as NULL, since SQLite cannot hold NaN.
Sessions come from `worker.db`, the tables from `worker.schema`; reads as frames are `worker.frames`.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from vgp_models.config import RunConfig
from vgp_models.metrics import EpochMetrics, StepPoint
from worker.schema import CheckpointRow, EpochRow, GradientRow, Run, RunOrigin, RunStatus, SignalRow, StepRow, utcnow

__all__ = [
    "AUTO_RESUMED_AFTER", "REASON_MAX_CHARS", "RunMeta", "RunNotFound", "RunSuperseded", "checkpoint_dir",
    "claim_auto_resume", "create_run", "delete_run", "get_checkpoint", "get_run", "interrupt_run", "list_runs",
    "prune_checkpoints", "put_checkpoint", "record_epoch", "record_steps", "remove_checkpoints", "request_cancel",
    "require_run", "resumed_after",
    "finite", "set_status", "squash", "touch_heartbeat", "transition_row", "transition_run", "update_run_meta",
]  # fmt: skip

REASON_MAX_CHARS = 1000
"""A run's `reason` is one line, cut to this length."""


class RunNotFound(LookupError):
    """No run with that id; the message is one line."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"no run with id {run_id}")
        self.run_id = run_id


class RunSuperseded(RuntimeError):
    """The run is no longer running under this job (reconcile wrote it off and queued it again): the job must
    write nothing more and stop. The message is one line."""


def squash(text: object, limit: int = REASON_MAX_CHARS) -> str:
    """Collapse any whitespace (newlines included) to single spaces and cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def finite(value: float | None) -> float | None:
    """`value` as a float to store, None when it is missing or not finite (SQLite cannot hold NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---- runs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunMeta:
    """A run's human fields, as one value from the Launch form or the command line to `create_run`.

    An empty name becomes the config's label and an empty group none (`create_run`); tags are kept as a tuple so
    that the value stays frozen whatever iterable the caller passed.
    """

    name: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tuple(self.tags))


def create_run(session: Session, config: RunConfig, meta: RunMeta = RunMeta()) -> Run:
    """Add a queued run (flushed, so `.id` is set); the name defaults to the config's label."""
    run = Run(
        name=(meta.name or "").strip() or config.label,
        group_name=(meta.group or "").strip() or None,
        tags=sorted({t.strip() for t in meta.tags if t and t.strip()}),
        note=meta.note,
        config=config.to_dict(),
        status=RunStatus.QUEUED,
        created_at=utcnow(),
        epochs_total=config.epochs,
        epochs_done=0,
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int) -> Run | None:
    return session.get(Run, run_id)


def require_run(session: Session, run_id: int) -> Run:
    """Like get_run, but raises RunNotFound."""
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


def list_runs(session: Session, statuses: Iterable[RunStatus] | None = None) -> list[Run]:
    """All runs (or those in `statuses`), newest first."""
    query = select(Run).order_by(Run.id.desc())
    if statuses is not None:
        query = query.where(Run.status.in_(list(statuses)))
    return list(session.scalars(query))


_EDITABLE_FIELDS = frozenset(
    {
        "name", "group_name", "tags", "note", "started_at", "finished_at", "heartbeat_at", "epochs_done", "params",
        "device", "worker_name", "job_id", "best_epoch", "best_val_acc", "test_loss", "test_acc", "diverged_step",
        "git_sha",
    }
)  # fmt: skip


def set_status(session: Session, run_id: int, status: RunStatus | str, reason: str | None = None, **fields: Any) -> Run:
    """Move a run to `status` whatever its status was, with a one-line `reason`, setting any other columns given
    as keywords; timestamps as in `transition_run`. Raises RunNotFound."""
    require_run(session, run_id)
    transition_run(session, run_id, tuple(RunStatus), RunStatus(status), reason, **fields)
    return require_run(session, run_id)


def transition_run(
    session: Session,
    run_id: int,
    from_statuses: Iterable[RunStatus],
    to_status: RunStatus,
    reason: str | None = None,
    *,
    only_job: str | None = None,
    **fields: Any,
) -> bool:
    """Atomically move a run to `to_status` if its status is one of `from_statuses`; False otherwise.

    One conditional UPDATE, so a job starting and `cancel_run` cancelling the same queued run cannot both win.
    With `only_job`, the run must also still belong to that RQ job (runs.job_id): a job that was written off
    (its run interrupted and queued again under a new job) can no longer change it.
    Timestamps: running sets started_at (first time) and the heartbeat, finished sets finished_at, queued clears
    finished_at. Every move to a status other than running clears cancel_requested_at: a Cancel is asked of one
    running job of the run, so a later job (the run resumed, or queued again) is never stopped by it.
    """
    unknown = sorted(set(fields) - _EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown field(s) of a run: {', '.join(unknown)}")
    fields = {k: finite(v) if isinstance(v, float) else v for k, v in fields.items()}
    if to_status is not RunStatus.RUNNING:
        fields["cancel_requested_at"] = None
    return transition_row(session, Run, run_id, from_statuses, to_status, reason, only_job=only_job, **fields)


def transition_row(
    session: Session, table: Any, row_id: int, from_statuses: Iterable[RunStatus], to_status: RunStatus,
    reason: str | None = None, *, only_job: str | None = None, **fields: Any,
) -> bool:  # fmt: skip
    """The conditional status UPDATE of a job-owned row (a run, a sweep, a landscape: `table` has status, reason,
    started_at, heartbeat_at, finished_at and job_id), with `fields` set too; timestamps as `transition_run`'s."""
    now = utcnow()
    values: dict[str, Any] = {"status": to_status, "reason": squash(reason) if reason else None, **fields}
    if to_status is RunStatus.RUNNING:
        values.update(started_at=func.coalesce(table.started_at, now), heartbeat_at=now, finished_at=None)
    elif to_status is RunStatus.QUEUED:
        values.update(finished_at=None)
    else:
        values.update(finished_at=now)
    query = update(table).where(table.id == int(row_id), table.status.in_(list(from_statuses)))
    if only_job is not None:
        query = query.where(table.job_id == only_job)
    result = session.execute(query.values(**values).execution_options(synchronize_session=False))
    session.expire_all()
    return bool(result.rowcount)


AUTO_RESUMED_AFTER = "queued again automatically after: "
"""Starts the reason of a run that an automatic resume queued again (and that its job keeps while it runs), so
that a second death of the same cause is recognised (`interrupt_run`)."""


def claim_auto_resume(session: Session, run_id: int, limit: int) -> bool:
    """Atomically move an interrupted run back to queued if it has had fewer than `limit` automatic resumes.

    Counts the resume in runs.auto_resumes and keeps the cause of death in the reason (AUTO_RESUMED_AFTER).
    One conditional UPDATE, so of several reconciling workers one wins. A tracked run is never claimed: its training
    is the user's own process, and no job can continue it.
    """
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.INTERRUPTED, Run.auto_resumes < int(limit))
        .where(Run.origin == RunOrigin.QUEUED)  # an imported run has no checkpoint, a tracked one no job
        .values(
            status=RunStatus.QUEUED,
            finished_at=None,
            auto_resumes=Run.auto_resumes + 1,
            reason=literal(AUTO_RESUMED_AFTER) + func.coalesce(Run.reason, ""),
        )
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(result.rowcount)


def resumed_after(reason: str | None) -> str | None:
    """The reason itself when it says that an automatic resume queued the run (its job keeps it), else None."""
    return reason if reason and reason.startswith(AUTO_RESUMED_AFTER) else None


def _cause(reason: str) -> str:
    return re.sub(r"\d+ s\b", "N s", reason)  # "no heartbeat for 43 s" and "for 51 s" are one cause


def interrupt_run(
    session: Session, run_id: int, from_statuses: Iterable[RunStatus], reason: str, only_job: str | None
) -> bool:
    """A run's process died: mark it interrupted (resumable, and resumed automatically VGP_AUTO_RESUMES times).

    A run that dies the same way again after an automatic resume is marked failed instead and never resumed
    automatically again: what killed it (the kernel's OOM killer, most often) would kill it again.
    A run that was asked to stop (runs.cancel_requested_at) is marked cancelled instead: a run someone cancelled
    is never resumed automatically. Conditional like transition_run; False when the run was not in `from_statuses`
    (under `only_job`).
    """
    run = get_run(session, run_id)
    if run is not None and run.cancel_requested_at is not None:
        reason = f"cancelled by user; its process died before it stopped ({reason})"
        return transition_run(session, run_id, from_statuses, RunStatus.CANCELLED, reason, only_job=only_job)
    earlier = resumed_after(run.reason if run else None)
    if earlier and _cause(earlier[len(AUTO_RESUMED_AFTER) :]) == _cause(squash(reason)):
        reason = (f"{reason} (again after an automatic resume, so it is not resumed again; if it ran out of "
                  "memory, lower its batch size or width)")  # fmt: skip
        return transition_run(session, run_id, from_statuses, RunStatus.FAILED, reason, only_job=only_job)
    return transition_run(session, run_id, from_statuses, RunStatus.INTERRUPTED, reason, only_job=only_job)


def update_run_meta(
    session: Session,
    run_id: int,
    *,
    name: str | None = None,
    group: str | None = None,
    tags: Iterable[str] | None = None,
    note: str | None = None,
) -> Run:
    """Edit a run's human fields; None leaves a field as it is (group "" clears the group)."""
    run = require_run(session, run_id)
    if name is not None and name.strip():
        run.name = name.strip()
    if group is not None:
        run.group_name = group.strip() or None
    if tags is not None:
        run.tags = sorted({t.strip() for t in tags if t and t.strip()})
    if note is not None:
        run.note = note
    session.flush()
    return run


def request_cancel(session: Session, run_id: int) -> bool:
    """Ask a running run to stop: runs.cancel_requested_at, read by its job with its progress writes
    (`worker.progress`) or by a tracked run's own loop (`worker.tracking`). False when the run is not running; a
    second request keeps the first's time, from which `worker.reconcile` ages it (VGP_CANCEL_GRACE_S)."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.RUNNING)
        .values(cancel_requested_at=func.coalesce(Run.cancel_requested_at, utcnow()))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def touch_heartbeat(session: Session, run_id: int, job_id: str | None = None) -> bool:
    """Refresh a running run's heartbeat; False when it is no longer running (under `job_id`, when given)."""
    query = update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING)
    if job_id is not None:
        query = query.where(Run.job_id == job_id)
    result = session.execute(query.values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def checkpoint_dir(run_uuid: str) -> Path:
    """Where the job keeps a run's last.pt and best.pt (VGP_CHECKPOINT_DIR, default var/checkpoints).

    Named by the run's uuid, not its id: ids start again at 1 in a database made anew, uuids never repeat.
    """
    return Path(os.environ.get("VGP_CHECKPOINT_DIR", "var/checkpoints")) / str(run_uuid)


def delete_run(session: Session, run_id: int) -> str:
    """Delete a finished run, its epochs and gradients (the foreign keys cascade); return its uuid.

    One conditional DELETE, so a run resumed or started since the caller looked at it is never deleted.
    Files are the caller's to remove, after the commit (`remove_checkpoints`): a rolled-back delete keeps them.
    """
    finished = [status for status in RunStatus if status.finished]
    query = delete(Run).where(Run.id == run_id, Run.status.in_(finished)).returning(Run.uuid)
    run_uuid = session.execute(query.execution_options(synchronize_session=False)).scalar_one_or_none()
    session.expire_all()
    if run_uuid is None:
        status = require_run(session, run_id).status
        raise ValueError(f"run {run_id} is {status.value}; cancel it before deleting it")
    return run_uuid


def remove_checkpoints(run_uuid: str) -> None:
    """Remove a deleted run's checkpoint folder (call it after the delete's commit)."""
    shutil.rmtree(checkpoint_dir(run_uuid), ignore_errors=True)


# ---- metrics --------------------------------------------------------------------------------------


def record_epoch(session: Session, run_id: int, metrics: EpochMetrics, job_id: str | None = None) -> None:
    """Write one epoch's metrics, gradient, forward-signal and per-step rows, replacing any earlier copy of that
    epoch (idempotent).

    Also advances runs.epochs_done, the running best (best_epoch, best_val_acc) and the heartbeat.
    With `job_id`, the run must still be running under that job, or RunSuperseded is raised and the caller's
    transaction writes nothing (a written-off job that is still alive cannot record an epoch).
    Writes come first, so that on SQLite the transaction takes the write lock before any read.
    """
    epoch = int(metrics.epoch)
    if job_id is not None and not touch_heartbeat(session, run_id, job_id):
        raise RunSuperseded(f"run {run_id} is no longer running under job {job_id}; epoch {epoch} not recorded")
    session.execute(delete(GradientRow).where(GradientRow.run_id == run_id, GradientRow.epoch == epoch))
    session.execute(delete(SignalRow).where(SignalRow.run_id == run_id, SignalRow.epoch == epoch))
    session.execute(delete(EpochRow).where(EpochRow.run_id == run_id, EpochRow.epoch == epoch))
    session.add(
        EpochRow(
            run_id=run_id,
            epoch=epoch,
            train_loss=finite(metrics.train_loss),
            train_acc=finite(metrics.train_acc),
            val_loss=finite(metrics.val_loss),
            val_acc=finite(metrics.val_acc),
            lr=finite(metrics.lr),
            seconds=finite(metrics.seconds),
        )
    )
    session.add_all(_layer_rows(GradientRow, run_id, epoch, metrics.grads, GRADIENT_NUMBERS))
    session.add_all(_layer_rows(SignalRow, run_id, epoch, metrics.signals, SIGNAL_NUMBERS))
    record_steps(session, run_id, metrics.steps)
    session.flush()
    run = require_run(session, run_id)
    run.epochs_done = max(run.epochs_done or 0, epoch)
    run.epoch_step = 0  # the next epoch's steps are counted from its first (worker.progress)
    run.heartbeat_at = utcnow()
    val_acc = finite(metrics.val_acc)
    if val_acc is not None and (run.best_val_acc is None or val_acc > run.best_val_acc):
        run.best_epoch, run.best_val_acc = epoch, val_acc
    session.flush()


GRADIENT_NUMBERS = ("abs_mean_last", "abs_mean_epoch", "l2", "weight_norm", "update_ratio")
"""What a LayerGrad measures, as GradientRow's columns."""
SIGNAL_NUMBERS = ("mean", "std", "negative_share")
"""What a LayerSignal measures, as SignalRow's columns."""


def _layer_rows(table: type, run_id: int, epoch: int, layers: Iterable[Any], numbers: tuple[str, ...]) -> list[Any]:
    """One `table` row per layer of an epoch (a LayerGrad or LayerSignal): its index, name and `numbers`."""
    return [
        table(run_id=run_id, epoch=epoch, layer_index=int(x.layer_index), layer=str(x.layer),
              **{k: finite(getattr(x, k)) for k in numbers})
        for x in layers
    ]  # fmt: skip


def record_steps(session: Session, run_id: int, points: Iterable[StepPoint]) -> None:
    """Write per-step points, replacing any earlier copy of the same steps (idempotent: a repeated epoch or a
    live write followed by the epoch's own write). Non-finite losses are stored as NULL."""
    rows = [
        {
            "run_id": run_id,
            "step": int(p.step),
            "epoch": int(p.epoch),
            "loss": finite(p.loss),
            "lr": finite(p.lr),
            "seconds": finite(p.seconds),
        }
        for p in points
    ]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    session.execute(
        delete(StepRow).where(StepRow.run_id == run_id, StepRow.step >= min(steps), StepRow.step <= max(steps))
    )
    session.execute(insert(StepRow), rows)


# ---- checkpoints in the database ----------------------------------------------------------------------


def put_checkpoint(session: Session, run_id: int, kind: str, epoch: int, run_uuid: str, data: bytes) -> None:
    """Store a run's `last` or `best` checkpoint (torch.save bytes), replacing the previous one of that kind."""
    session.execute(delete(CheckpointRow).where(CheckpointRow.run_id == run_id, CheckpointRow.kind == kind))
    session.add(
        CheckpointRow(
            run_id=run_id, kind=kind, epoch=int(epoch), run_uuid=run_uuid, data=data,
            sha256=hashlib.sha256(data).hexdigest(), created_at=utcnow(),
        )
    )  # fmt: skip
    session.flush()


def get_checkpoint(session: Session, run_id: int, kind: str = "last") -> CheckpointRow | None:
    return session.get(CheckpointRow, (run_id, kind))


def prune_checkpoints(session: Session, run_id: int, keep: Iterable[str]) -> int:
    """Delete a run's checkpoints except the kinds in `keep`; returns how many went."""
    result = session.execute(
        delete(CheckpointRow).where(CheckpointRow.run_id == run_id, CheckpointRow.kind.not_in(list(keep)))
    )
    return result.rowcount or 0
