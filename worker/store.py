"""The store: runs, their per-epoch metrics and per-layer gradient statistics, in SQLite or Postgres.

The database owns run state. Tables are made by Alembic (`upgrade_database`, `migrations/`), never by
`create_all()`. Timestamps are UTC and come back timezone-aware on both backends; accuracies are fractions
0..1; a non-finite float (a diverging loss) is stored as NULL, since SQLite cannot hold NaN.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from vgp_models.config import RunConfig
from worker.schema import NAMING_CONVENTION, Base, EpochRow, GradientRow, Run, RunStatus, UTCDateTime, utcnow

if TYPE_CHECKING:
    from vgp_models.train import EpochMetrics

__all__ = [  # the schema's names are re-exported, so callers need only `from worker import store`
    "NAMING_CONVENTION", "Base", "EpochRow", "GradientRow", "Run", "RunNotFound", "RunStatus", "UTCDateTime",
    "alembic_config", "checkpoint_dir", "claim_auto_resume", "create_run", "database_url", "delete_run",
    "dispose_engines", "ensure_database_dir", "epochs_frame", "get_engine", "get_run", "get_sessionmaker",
    "gradient_ends_frame", "gradients_frame", "list_runs", "one_line", "read_scope", "record_epoch", "require_run",
    "run_summary", "runs_frame",
    "safe_database_url", "session_scope", "set_status", "touch_heartbeat", "transition_run", "update_run_meta",
    "upgrade_database", "utcnow",
]  # fmt: skip

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///var/vgp.db"
"""Used when DATABASE_URL is unset; relative to the working directory (the repo root under `make run`)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer's lock before 'database is locked'."""

REASON_MAX_CHARS = 1000
"""A run's `reason` is one line, cut to this length."""

REPO_ROOT = Path(__file__).resolve().parents[1]

EPOCH_COLUMNS = ("run_id", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
GRADIENT_COLUMNS = ("run_id", "epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2")
RUN_COLUMNS = (
    "id", "name", "group_name", "tags", "status", "reason", "created_at", "started_at", "finished_at",
    "heartbeat_at", "epochs_total", "epochs_done", "params", "device", "best_epoch", "best_val_acc",
    "test_loss", "test_acc", "diverged_step",
)  # fmt: skip


class RunNotFound(LookupError):
    """No run with that id; the message is one line."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"no run with id {run_id}")
        self.run_id = run_id


def one_line(text: object, limit: int = REASON_MAX_CHARS) -> str:
    """Collapse any whitespace (newlines included) to single spaces and cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---- engine and sessions --------------------------------------------------------------------------


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else DATABASE_URL, else DEFAULT_DATABASE_URL."""
    return url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def safe_database_url(url: str | None = None) -> str:
    """The URL with its password masked (***), fit for messages and logs."""
    try:
        return make_url(database_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (an unparsable URL: show none of it rather than a secret)
        return "<unparsable DATABASE_URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the dashboard) never block the writer (the job)
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE needs it
    cursor.close()


def ensure_database_dir(url: str) -> None:
    """For a SQLite file URL, create the file's folder (var/ is not in git); other URLs need nothing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def _create_engine(url: str) -> Engine:
    ensure_database_dir(url)
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


_ENGINES: dict[str, Engine] = {}
_SESSIONMAKERS: dict[str, sessionmaker[Session]] = {}
_LOCK = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """One cached engine per URL (DATABASE_URL by default); SQLite gets WAL, a busy timeout, foreign keys."""
    url = database_url(url)
    with _LOCK:
        if url not in _ENGINES:
            _ENGINES[url] = _create_engine(url)
        return _ENGINES[url]


def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    """The one sessionmaker per URL; `with get_sessionmaker().begin() as session:` commits or rolls back."""
    engine = get_engine(url)
    with _LOCK:
        key = str(engine.url)
        if key not in _SESSIONMAKERS:
            _SESSIONMAKERS[key] = sessionmaker(bind=engine, expire_on_commit=False)
        return _SESSIONMAKERS[key]


def dispose_engines() -> None:
    """Close and forget every cached engine (tests, before dropping a database)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
        _SESSIONMAKERS.clear()


def _after_fork_in_child() -> None:
    # An RQ work horse is a fork of the worker: it must not reuse the parent's pooled connections, nor
    # inherit _LOCK held by the parent's sweep thread at the moment of the fork (it would never be released).
    global _LOCK
    _LOCK = threading.Lock()
    for engine in list(_ENGINES.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on an exception."""
    with get_sessionmaker(url).begin() as session:
        yield session


@contextmanager
def read_scope(url: str | None = None) -> Iterator[Session]:
    """A read-only session whose queries all see one snapshot, rolled back at the end.

    session_scope's reads each see the latest commit: on SQLite pysqlite runs every SELECT outside a
    transaction, and Postgres' READ COMMITTED takes a snapshot per statement, so an epochs read and a gradients
    read may straddle a worker's commit (one more epoch of gradients than of epochs). Here SQLite gets an
    explicit deferred BEGIN (a WAL snapshot: writers are never blocked) and Postgres REPEATABLE READ, which
    never fails a transaction that only reads.
    """
    with get_sessionmaker(url)() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.connection().exec_driver_sql("BEGIN")
        else:
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        try:
            yield session
        finally:
            session.rollback()


def upgrade_database(url: str | None = None, revision: str = "head") -> None:
    """Run `alembic upgrade <revision>` on the database (DATABASE_URL by default)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def alembic_config(url: str | None = None) -> Any:
    """An Alembic Config for the repo's alembic.ini, aimed at `url` (DATABASE_URL by default)."""
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.attributes["url"] = database_url(url)
    config.attributes["configure_logging"] = False  # leave the host application's logging alone
    return config


# ---- runs -----------------------------------------------------------------------------------------


def create_run(
    session: Session,
    config: RunConfig,
    name: str | None = None,
    group: str | None = None,
    tags: Iterable[str] = (),
    note: str = "",
) -> Run:
    """Add a queued run (flushed, so `.id` is set); the name defaults to the config's label."""
    run = Run(
        name=(name or "").strip() or config.label,
        group_name=(group or "").strip() or None,
        tags=sorted({t.strip() for t in tags if t and t.strip()}),
        note=note,
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
    """Move a run to `status` with a one-line `reason`, setting any other columns given as keywords.

    Finished statuses set finished_at (unless given); running sets started_at once and the heartbeat.
    """
    unknown = sorted(set(fields) - _EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"set_status got unknown field(s): {', '.join(unknown)}")
    run = require_run(session, run_id)
    status = RunStatus(status)
    now = utcnow()
    run.status = status
    run.reason = one_line(reason) if reason else None
    if status is RunStatus.RUNNING:
        run.started_at = run.started_at or now
        run.heartbeat_at = now
        run.finished_at = None
    elif status is RunStatus.QUEUED:
        run.finished_at = None
    else:
        run.finished_at = now
    for key, value in fields.items():
        setattr(run, key, _finite(value) if isinstance(value, float) else value)
    session.flush()
    return run


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
    Timestamps follow set_status: running sets started_at (first time) and the heartbeat, finished sets
    finished_at, queued clears finished_at.
    """
    unknown = sorted(set(fields) - _EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"transition_run got unknown field(s): {', '.join(unknown)}")
    now = utcnow()
    values: dict[str, Any] = {"status": to_status, "reason": one_line(reason) if reason else None}
    if to_status is RunStatus.RUNNING:
        values.update(started_at=func.coalesce(Run.started_at, now), heartbeat_at=now, finished_at=None)
    elif to_status is RunStatus.QUEUED:
        values.update(finished_at=None)
    else:
        values.update(finished_at=now)
    values.update({k: _finite(v) if isinstance(v, float) else v for k, v in fields.items()})
    query = update(Run).where(Run.id == run_id, Run.status.in_(list(from_statuses)))
    if only_job is not None:
        query = query.where(Run.job_id == only_job)
    result = session.execute(query.values(**values).execution_options(synchronize_session=False))
    session.expire_all()
    return bool(result.rowcount)


def claim_auto_resume(session: Session, run_id: int, limit: int) -> bool:
    """Atomically move an interrupted run back to queued if it has had fewer than `limit` automatic resumes.

    Counts the resume in runs.auto_resumes. One conditional UPDATE, so of several sweeping workers one wins.
    """
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.INTERRUPTED, Run.auto_resumes < int(limit))
        .values(status=RunStatus.QUEUED, finished_at=None, auto_resumes=Run.auto_resumes + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return bool(result.rowcount)


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


def touch_heartbeat(session: Session, run_id: int, job_id: str | None = None) -> bool:
    """Refresh a running run's heartbeat; False when it is no longer running (under `job_id`, when given)."""
    query = update(Run).where(Run.id == run_id, Run.status == RunStatus.RUNNING)
    if job_id is not None:
        query = query.where(Run.job_id == job_id)
    result = session.execute(query.values(heartbeat_at=utcnow()).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def checkpoint_dir(run_id: int) -> Path:
    """Where the job keeps a run's last.pt and best.pt (VGP_CHECKPOINT_DIR, default var/checkpoints)."""
    return Path(os.environ.get("VGP_CHECKPOINT_DIR", "var/checkpoints")) / str(run_id)


def delete_run(session: Session, run_id: int, remove_checkpoints: bool = True) -> None:
    """Delete a finished run, its epochs and gradients (cascade) and, by default, its checkpoint folder."""
    run = require_run(session, run_id)
    if not run.status.finished:
        raise ValueError(f"run {run_id} is {run.status.value}; cancel it before deleting it")
    session.delete(run)
    session.flush()
    if remove_checkpoints:
        shutil.rmtree(checkpoint_dir(run_id), ignore_errors=True)


# ---- metrics --------------------------------------------------------------------------------------


def record_epoch(session: Session, run_id: int, metrics: EpochMetrics) -> None:
    """Write one epoch's metrics and gradient rows, replacing any earlier copy of that epoch (idempotent).

    Also advances runs.epochs_done, the running best (best_epoch, best_val_acc) and the heartbeat.
    Writes come first, so that on SQLite the transaction takes the write lock before any read.
    """
    epoch = int(metrics.epoch)
    session.execute(delete(GradientRow).where(GradientRow.run_id == run_id, GradientRow.epoch == epoch))
    session.execute(delete(EpochRow).where(EpochRow.run_id == run_id, EpochRow.epoch == epoch))
    session.add(
        EpochRow(
            run_id=run_id,
            epoch=epoch,
            train_loss=_finite(metrics.train_loss),
            train_acc=_finite(metrics.train_acc),
            val_loss=_finite(metrics.val_loss),
            val_acc=_finite(metrics.val_acc),
            lr=_finite(metrics.lr),
            seconds=_finite(metrics.seconds),
        )
    )
    session.add_all(
        GradientRow(
            run_id=run_id,
            epoch=epoch,
            layer_index=int(g.layer_index),
            layer=str(g.layer),
            abs_mean_last=_finite(g.abs_mean_last),
            abs_mean_epoch=_finite(g.abs_mean_epoch),
            l2=_finite(g.l2),
        )
        for g in metrics.grads
    )
    session.flush()
    run = require_run(session, run_id)
    run.epochs_done = max(run.epochs_done or 0, epoch)
    run.heartbeat_at = utcnow()
    val_acc = _finite(metrics.val_acc)
    if val_acc is not None and (run.best_val_acc is None or val_acc > run.best_val_acc):
        run.best_epoch, run.best_val_acc = epoch, val_acc
    session.flush()


def _frame(session: Session, query: Any, columns: tuple[str, ...], ints: tuple[str, ...]) -> pd.DataFrame:
    # Plain tuples: pandas builds a frame from SQLAlchemy Row objects about twice as slowly.
    frame = pd.DataFrame.from_records([tuple(row) for row in session.execute(query)], columns=list(columns))
    for column in columns:
        if column in ints:
            frame[column] = frame[column].astype("int64")
        elif column not in ("layer",):
            frame[column] = frame[column].astype("float64")
    return frame


def epochs_frame(session: Session, run_ids: Iterable[int]) -> pd.DataFrame:
    """One row per (run, epoch): run_id, epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds."""
    ids = [int(i) for i in run_ids]
    query = (
        select(*(getattr(EpochRow, c) for c in EPOCH_COLUMNS))
        .where(EpochRow.run_id.in_(ids))
        .order_by(EpochRow.run_id, EpochRow.epoch)
    )
    return _frame(session, query, EPOCH_COLUMNS, ints=("run_id", "epoch"))


def gradients_frame(
    session: Session,
    run_ids: Iterable[int],
    epochs: Iterable[int] | None = None,
    columns: Iterable[str] = GRADIENT_COLUMNS,
) -> pd.DataFrame:
    """Long format, one row per (run, epoch, layer): GRADIENT_COLUMNS (or only `columns`, in that order);
    optionally only some epochs."""
    ids = [int(i) for i in run_ids]
    columns = tuple(columns)
    unknown = sorted(set(columns) - set(GRADIENT_COLUMNS))
    if unknown:
        raise ValueError(f"unknown gradient column(s): {', '.join(unknown)}")
    query = select(*(getattr(GradientRow, c) for c in columns)).where(GradientRow.run_id.in_(ids))
    if epochs is not None:
        query = query.where(GradientRow.epoch.in_([int(e) for e in epochs]))
    query = query.order_by(GradientRow.run_id, GradientRow.epoch, GradientRow.layer_index)
    return _frame(session, query, columns, ints=("run_id", "epoch", "layer_index"))


def gradient_ends_frame(session: Session, run_ids: Iterable[int] | None = None, latest: bool = False) -> pd.DataFrame:
    """The first and the last weight's mean |grad| (last batch) per (run, epoch): for the first/last ratio.

    `first` is the run's lowest layer_index (the entry conv), `last` its highest (the linear layer). With
    `latest`, only each run's latest recorded epoch (runs.epochs_done). Columns: run_id, epoch, first, last.
    """
    g = GradientRow
    ends = select(g.run_id, g.epoch, func.min(g.layer_index).label("lo"), func.max(g.layer_index).label("hi"))
    if run_ids is not None:
        ends = ends.where(g.run_id.in_([int(i) for i in run_ids]))
    if latest:
        ends = ends.join(Run, (Run.id == g.run_id) & (Run.epochs_done == g.epoch))
    ends = ends.group_by(g.run_id, g.epoch).subquery()
    query = (
        select(g.run_id, g.epoch, g.layer_index == ends.c.lo, g.abs_mean_last)
        .join(ends, (g.run_id == ends.c.run_id) & (g.epoch == ends.c.epoch))
        .where(g.layer_index.in_([ends.c.lo, ends.c.hi]))
    )
    rows = pd.DataFrame(session.execute(query).all(), columns=["run_id", "epoch", "is_first", "value"])
    rows["value"] = rows["value"].astype("float64")
    first = rows[rows["is_first"].astype(bool)].drop(columns="is_first").rename(columns={"value": "first"})
    last = rows[~rows["is_first"].astype(bool)].drop(columns="is_first").rename(columns={"value": "last"})
    frame = first.merge(last, on=["run_id", "epoch"], how="outer").sort_values(["run_id", "epoch"], ignore_index=True)
    return frame.astype({"run_id": "int64", "epoch": "int64", "first": "float64", "last": "float64"})


def runs_frame(session: Session, run_ids: Iterable[int] | None = None, extra: Iterable[str] = ()) -> pd.DataFrame:
    """One row per run (RUN_COLUMNS plus `label`, the config's short name, plus any `extra` Run columns such
    as note, worker_name or config), newest first."""
    query = select(Run).order_by(Run.id.desc())
    if run_ids is not None:
        query = query.where(Run.id.in_([int(i) for i in run_ids]))
    columns = [*RUN_COLUMNS, *(c for c in extra if c not in RUN_COLUMNS)]
    rows = []
    for run in session.scalars(query):
        row = {c: getattr(run, c) for c in columns}
        row["status"] = run.status.value
        try:
            row["label"] = run.run_config().label
        except ValueError:
            row["label"] = "invalid config"
        rows.append(row)
    return pd.DataFrame(rows, columns=[*columns, "label"])


def run_summary(run: Run) -> dict[str, Any]:
    """A JSON-ready dict of a run's columns (datetimes as ISO strings, status as text)."""
    summary: dict[str, Any] = {}
    for column in Run.__table__.columns:
        value = getattr(run, column.key)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Enum):
            value = value.value
        summary[column.key] = value
    return summary
