"""The schema: SQLAlchemy models of runs, their per-epoch, per-step and per-layer rows, depth sweeps, loss
landscapes, and the run status.

Alembic revisions (migrations/) create these tables; `alembic check` keeps the two in step.
"""

from __future__ import annotations

import uuid as uuid_module
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, LargeBinary, MetaData, String, Text, text
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from vgp_models.config import RunConfig


class RunStatus(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DIVERGED = "diverged"
    INTERRUPTED = "interrupted"  # the worker process died mid-run; the checkpoint allows a resume

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.QUEUED, RunStatus.RUNNING)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that returns aware UTC datetimes on SQLite too (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _status_type() -> SAEnum:
    # Stored as plain text (no native enum, no CHECK), so a new status needs no migration of the type.
    return SAEnum(
        RunStatus, native_enum=False, create_constraint=False, length=16, values_callable=lambda e: [m.value for m in e]
    )


def new_uuid() -> str:
    return str(uuid_module.uuid4())


class QueuedWork:
    """What a worker's job writes of a run, sweep or landscape (`worker.store.transition_row` moves it): its
    status and why, when it was queued, started, last heard of and ended, and where it ran."""

    status: Mapped[RunStatus] = mapped_column(_status_type(), default=RunStatus.QUEUED, index=True)
    reason: Mapped[str | None] = mapped_column(Text)  # one line: why it failed, diverged, stopped
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # with each epoch, (cure, depth), point
    device: Mapped[str | None] = mapped_column(String(32))
    worker_name: Mapped[str | None] = mapped_column(String(200))
    job_id: Mapped[str | None] = mapped_column(String(100))


class RunOrigin(str, Enum):
    """Where a run's rows come from: a queued job, a user's own loop (vgp_models.track), or an imported folder."""

    QUEUED = "queued"  # trained by a worker; resumable from its checkpoint
    TRACKED = "tracked"  # the user's own training loop writes it; nothing to re-queue
    IMPORTED = "imported"  # read from a run folder; no checkpoint, nothing to resume


def _origin_type() -> SAEnum:
    return SAEnum(
        RunOrigin, native_enum=False, create_constraint=False, length=16, values_callable=lambda e: [m.value for m in e]
    )


class Run(QueuedWork, Base):
    __tablename__ = "runs"
    # AUTOINCREMENT: SQLite never hands a deleted run's id to a new run (Postgres sequences never do).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Binds checkpoints, run folders and Redis keys to this run and no other, whatever happens to ids.
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    group_name: Mapped[str | None] = mapped_column(String(200), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # RunConfig.to_dict()
    epochs_total: Mapped[int] = mapped_column(Integer)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    params: Mapped[int | None] = mapped_column(BigInteger)  # up to ~5e9 at depth 500, width 1024
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    best_val_acc: Mapped[float | None] = mapped_column(Float)
    test_loss: Mapped[float | None] = mapped_column(Float)
    test_acc: Mapped[float | None] = mapped_column(Float)
    diverged_step: Mapped[int | None] = mapped_column(Integer)
    git_sha: Mapped[str | None] = mapped_column(String(40))
    auto_resumes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # automatic re-enqueues
    # Progress inside the epoch in flight (a VGG38 epoch on a CPU takes minutes): step k of N since epoch_started_at.
    epoch_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    epoch_steps: Mapped[int | None] = mapped_column(Integer)
    epoch_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    origin: Mapped[RunOrigin] = mapped_column(_origin_type(), default=RunOrigin.QUEUED, server_default="queued")
    # A running run's pending Cancel (store.request_cancel), read by its job or its tracked loop, which then stops;
    # cleared when the run leaves running (store.transition_run), so it never outlives the job it was asked of.
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    epochs: Mapped[list[EpochRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True, order_by="EpochRow.epoch"
    )

    def run_config(self) -> RunConfig:
        """The stored config, validated; raises vgp_models.config.ConfigError."""
        return RunConfig.from_dict(dict(self.config))

    def __repr__(self) -> str:
        return f"Run(id={self.id}, name={self.name!r}, status={self.status.value})"


class EpochRow(Base):
    __tablename__ = "epochs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1-based
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_acc: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_acc: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)

    run: Mapped[Run] = relationship(back_populates="epochs")


class GradientRow(Base):
    __tablename__ = "gradients"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_index: Mapped[int] = mapped_column(Integer, primary_key=True)  # forward order
    layer: Mapped[str] = mapped_column(String(120))  # reference label, e.g. block_0_1_conv_0
    abs_mean_last: Mapped[float | None] = mapped_column(Float)
    abs_mean_epoch: Mapped[float | None] = mapped_column(Float)
    l2: Mapped[float | None] = mapped_column(Float)
    weight_norm: Mapped[float | None] = mapped_column(Float)  # ||w|| at the epoch's end
    update_ratio: Mapped[float | None] = mapped_column(Float)  # ||w_end - w_start|| / ||w_start|| over the epoch


class StepRow(Base):
    """The training loss (and lr) every k steps: per-step curves that move while an epoch trains."""

    __tablename__ = "steps"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)  # global, 1-based
    epoch: Mapped[int] = mapped_column(Integer)  # 1-based, the epoch the step belongs to
    loss: Mapped[float | None] = mapped_column(Float)  # None where the loss was not finite
    lr: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)  # wall time since the run started training


class SignalRow(Base):
    """The forward signal of one layer output for one epoch (vgp_models.signals): mean, std, negative share."""

    __tablename__ = "signals"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_index: Mapped[int] = mapped_column(Integer, primary_key=True)  # forward order
    layer: Mapped[str] = mapped_column(String(120))
    mean: Mapped[float | None] = mapped_column(Float)
    std: Mapped[float | None] = mapped_column(Float)
    negative_share: Mapped[float | None] = mapped_column(Float)  # share of values < 0, in [0, 1]


class CheckpointRow(Base):
    """A run's resume state (`last`) or best model (`best`) as torch.save bytes, for hosts that share no disk."""

    __tablename__ = "checkpoints"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # last | best
    epoch: Mapped[int] = mapped_column(Integer)
    run_uuid: Mapped[str] = mapped_column(String(36))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Sweep(QueuedWork, Base):
    """A depth sweep at initialisation (vgp_models.sweep): queued and run by a worker like a run."""

    __tablename__ = "sweeps"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # SweepConfig.to_dict()
    cells_total: Mapped[int] = mapped_column(Integer)  # (cure, depth) pairs
    cells_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    points: Mapped[list[SweepPointRow]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class SweepPointRow(Base):
    """One net of a sweep (cure, depth, seed): its first and last weight's mean |grad| and its last conv's
    forward signal at initialisation, or a skipped (cure, depth) with its note and no numbers."""

    __tablename__ = "sweep_points"

    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True)
    cure: Mapped[str] = mapped_column(String(60), primary_key=True)
    depth: Mapped[int] = mapped_column(Integer, primary_key=True)
    seed: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_grad: Mapped[float | None] = mapped_column(Float)
    last_grad: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_signal_std: Mapped[float | None] = mapped_column(Float)  # the last conv output's across-batch std (0006)


class Landscape(QueuedWork, Base):
    """A loss landscape (vgp_models.landscape) around a run's checkpoint or a fresh net: queued like a sweep."""

    __tablename__ = "landscapes"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The run whose weights it probes; None for a fresh net at initialisation (the config says which).
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)  # LandscapeConfig.to_dict()
    points_total: Mapped[int] = mapped_column(Integer)
    points_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    points: Mapped[list[LandscapePointRow]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class LandscapePointRow(Base):
    """One point of a landscape: (i, j) on the grid at (alpha, beta) along the two directions; a 1D slice has
    j = 0 and beta None."""

    __tablename__ = "landscape_points"

    landscape_id: Mapped[int] = mapped_column(ForeignKey("landscapes.id", ondelete="CASCADE"), primary_key=True)
    i: Mapped[int] = mapped_column(Integer, primary_key=True)
    j: Mapped[int] = mapped_column(Integer, primary_key=True)
    alpha: Mapped[float] = mapped_column(Float)
    beta: Mapped[float | None] = mapped_column(Float)
    loss: Mapped[float | None] = mapped_column(Float)  # None where not finite
    acc: Mapped[float | None] = mapped_column(Float)
