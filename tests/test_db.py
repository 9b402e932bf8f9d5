"""worker.db: SQLite connections (WAL, foreign keys, busy timeout, one engine per URL), and a read scope that sees
one snapshot on either backend (VGP_TEST_DATABASE).

Alembic upgrades: test_migrations.py; SQLite under a worker's write load: test_reliability_sqlite.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.reliability_support import tiny
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
    """On either backend (VGP_TEST_DATABASE): a commit made during a read_scope is not seen inside it."""
    from vgp_models.train import EpochMetrics, LayerGrad

    def epoch(n: int) -> EpochMetrics:
        return EpochMetrics(n, 2, 4.0, 0.1, 4.1, 0.1, 1e-3, 0.01, [LayerGrad(0, "layer_0", 1e-3, 1e-3, 0.1)])

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
