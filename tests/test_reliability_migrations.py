"""Revision 0002 (runs.auto_resumes) on real SQLite and Postgres, with data in the tables: up from 0001, down
again, up again; existing rows get 0, and SQLite's batch copy of `runs` loses no epoch (no cascade fires).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from tests.conftest import postgres_database
from worker import db


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vgp.db'}"
        db.dispose_engines()
    else:
        with postgres_database() as url:
            yield url


def query(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def run_columns(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_0002_up_down_up_keeps_the_data(empty_db: str) -> None:
    config = db.alembic_config(empty_db)
    db.upgrade_database(empty_db, "0001")
    assert "auto_resumes" not in run_columns(empty_db)
    query(
        empty_db,
        "INSERT INTO runs (id, name, tags, note, config, status, created_at, epochs_total, epochs_done) "
        "VALUES (7, 'old', '[]', '', '{}', 'interrupted', CURRENT_TIMESTAMP, 3, 1)",
    )
    query(empty_db, "INSERT INTO epochs (run_id, epoch, train_loss) VALUES (7, 1, 4.5)")

    db.upgrade_database(empty_db)  # 0002
    assert query(empty_db, "SELECT id, status, auto_resumes FROM runs") == [(7, "interrupted", 0)]
    command.check(config)  # the models and the revisions agree
    query(empty_db, "UPDATE runs SET auto_resumes = 1 WHERE id = 7")

    command.downgrade(config, "0001")
    assert "auto_resumes" not in run_columns(empty_db)
    assert query(empty_db, "SELECT id, name FROM runs") == [(7, "old")]
    assert query(empty_db, "SELECT run_id, epoch, train_loss FROM epochs") == [(7, 1, 4.5)]

    db.upgrade_database(empty_db)
    assert query(empty_db, "SELECT auto_resumes FROM runs") == [(0,)]
    assert query(empty_db, "SELECT count(*) FROM epochs") == [(1,)]
