"""The database: one engine and sessionmaker per URL, transactions and read snapshots, Alembic upgrades.

SQLite (the default, `var/vgp.db`) or Postgres, by DATABASE_URL. Tables are made by Alembic (`upgrade_database`,
`migrations/`), never by `create_all()`. What is stored is `worker.schema`; writes are `worker.store`, reads
as pandas frames `worker.frames`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

__all__ = [
    "DEFAULT_DATABASE_URL", "MIGRATE_HINT", "POSTGRES_CONNECT_TIMEOUT_S", "POSTGRES_IDLE_IN_TRANSACTION_S",
    "POSTGRES_TCP_USER_TIMEOUT_S", "REPO_ROOT", "SQLITE_BUSY_TIMEOUT_MS",
    "alembic_config", "database_available", "database_url", "dispose_engines", "ensure_database_dir", "get_engine",
    "get_sessionmaker", "migration_hint", "read_scope", "safe_database_url", "session_scope", "upgrade_database",
]  # fmt: skip

DEFAULT_DATABASE_URL = "sqlite:///var/vgp.db"
"""Used when DATABASE_URL is unset; relative to the working directory (the repo root under `make run`)."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another writer's lock before 'database is locked'."""

POSTGRES_CONNECT_TIMEOUT_S = 10

POSTGRES_IDLE_IN_TRANSACTION_S = 60
"""How long Postgres keeps one of our sessions that sits inside a transaction with nothing to do: a host cut off
mid-transaction (a network partition) would otherwise hold its row locks until TCP gives up, hours later, and
every other worker's reconcile would wait on them. Our transactions never idle for long (an epoch's rows and a
checkpoint, written back to back)."""

POSTGRES_TCP_USER_TIMEOUT_S = 30
"""How long data we or the server sent may stay unacknowledged before the connection is closed (TCP_USER_TIMEOUT,
set on both ends: libpq's parameter and the server's setting for our sessions). A partition can leave the
server's side of a cut host's session with an unsent reply: the idle-in-transaction timeout then cannot end it
(its message cannot be delivered either) and the session's row locks would hold every other worker's reconcile
until TCP gives up, about 15 minutes later. Only a peer that acknowledges nothing trips it, never a slow query."""

REPO_ROOT = Path(__file__).resolve().parents[1]


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
    # connect_timeout: a host cut off from Postgres fails a connect in seconds (then worker.outage retries),
    # instead of waiting out TCP's minutes of SYN retries; the session timeout frees what a cut host held.
    user_timeout_ms = int(POSTGRES_TCP_USER_TIMEOUT_S * 1000)
    options = (f"-c idle_in_transaction_session_timeout={int(POSTGRES_IDLE_IN_TRANSACTION_S * 1000)}"
               f" -c tcp_user_timeout={user_timeout_ms}")  # fmt: skip
    connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, "tcp_user_timeout": user_timeout_ms,
                    "options": options}  # fmt: skip
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


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
    # inherit _LOCK held by the parent's reconcile thread at the moment of the fork (it would never be released).
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


def database_available(url: str | None = None) -> bool:
    """Whether the database answers a trivial query; never raises."""
    try:
        with get_engine(url).connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 (any failure means unavailable)
        return False


MIGRATE_HINT = " (is the database migrated? run `python -m worker migrate`)"

_UNMIGRATED_WORDS = ("no such table", "no such column", "does not exist")  # SQLite's and Postgres' messages
_UNMIGRATED_ERRORS = ("UndefinedTable", "UndefinedColumn")  # psycopg's classes for the same


def migration_hint(error: object) -> str:
    """MIGRATE_HINT when `error` says a table or column is missing (a database never migrated, or migrated to an
    older schema), else "": the command line and the dashboard append it to their one-line error."""
    if not isinstance(error, SQLAlchemyError):
        return ""
    cause = getattr(error, "orig", None) or error
    if type(cause).__name__ in _UNMIGRATED_ERRORS or any(words in str(cause) for words in _UNMIGRATED_WORDS):
        return MIGRATE_HINT
    return ""


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
