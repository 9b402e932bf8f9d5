"""worker.db: SQLite connections (WAL, foreign keys, busy timeout, one engine per URL), Postgres sessions that
cannot hold locks forever from inside an idle transaction, and a read scope that sees one snapshot on either
backend.

Alembic upgrades: test_migrations.py; SQLite under a worker's write load: test_reliability_sqlite.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import postgres_database
from tests.run_support import epoch_metrics, tiny
from worker import db, frames, store


def test_sqlite_connections_use_wal_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'vgp.db'}"  # the folder is created on first use
    try:
        with db.get_engine(url).connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
        assert db.get_engine(url) is db.get_engine(url)
    finally:
        db.dispose_engines()


def test_read_scope_sees_one_snapshot(database_url: str) -> None:
    """On either backend: a commit made during a read_scope is not seen inside it."""
    from vgp_models.metrics import EpochMetrics, LayerGrad

    def epoch(n: int) -> EpochMetrics:
        return epoch_metrics(n, 2, seconds=0.01, grads=[LayerGrad(0, "layer_0", 1e-3, 1e-3, 0.1)])

    db.upgrade_database(database_url)
    try:
        with db.session_scope(database_url) as s:
            run_id = store.create_run(s, tiny()).id
            store.record_epoch(s, run_id, epoch(1))
        with db.read_scope(database_url) as snapshot:
            assert len(frames.epochs_frame(snapshot, [run_id])) == 1
            with db.session_scope(database_url) as s:  # a worker commits meanwhile
                store.record_epoch(s, run_id, epoch(2))
            assert len(frames.gradients_frame(snapshot, [run_id])) == 1  # still the snapshot
        with db.read_scope(database_url) as fresh:
            assert len(frames.gradients_frame(fresh, [run_id])) == 2
    finally:
        db.dispose_engines()


def test_a_postgres_session_idle_inside_a_transaction_is_ended_and_its_locks_freed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host cut off mid-transaction (test_reliability_partition.py) leaves its session idle in the transaction;
    Postgres ends it after POSTGRES_IDLE_IN_TRANSACTION_S, so another worker's write to the same row goes on."""
    monkeypatch.setattr(db, "POSTGRES_IDLE_IN_TRANSACTION_S", 1)
    db.dispose_engines()
    with postgres_database() as database_url:
        db.upgrade_database(database_url)
        with db.session_scope(database_url) as s:
            run_id = store.create_run(s, tiny()).id
        cut = db.get_engine(database_url).connect()
        cut.begin()
        cut.execute(text("UPDATE runs SET note = 'held' WHERE id = :id"), {"id": run_id})  # holds the row lock
        time.sleep(2.5)  # idle inside the transaction, past the timeout
        with db.session_scope(database_url) as s:
            s.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting on the lock would fail, not hang
            s.execute(text("UPDATE runs SET note = 'other worker' WHERE id = :id"), {"id": run_id})
        with pytest.raises(DBAPIError, match="idle-in-transaction timeout"):
            cut.execute(text("SELECT 1"))  # the idle session was ended by the server
        cut.invalidate()
        with db.session_scope(database_url) as s:
            assert store.get_run(s, run_id).note == "other worker"
