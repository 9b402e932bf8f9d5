"""worker.outage: what counts as an outage (a database or Redis that did not answer, from a real refused
connection) and what does not (an answer that says no); `retrying` retries only outages, until its budget.
A job riding out a real outage: test_reliability_outage.py."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from tests.env_support import free_port
from worker import connection, db, outage


def refused_database() -> None:
    create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none").connect()


def refused_redis() -> None:
    connection.get_redis(f"redis://127.0.0.1:{free_port()}/0").ping()


def duplicate_key() -> None:
    """The database's answer "no": the migrated store's one alembic_version row, inserted again."""
    with db.session_scope() as s:
        s.execute(text("INSERT INTO alembic_version (version_num) SELECT version_num FROM alembic_version"))


def raised_by(op) -> BaseException:
    with pytest.raises(Exception) as raised:
        op()
    return raised.value


def test_a_refused_connection_is_an_outage_and_a_refusal_is_not(store_url: str) -> None:
    assert outage.is_outage(raised_by(refused_database))
    assert outage.is_outage(raised_by(refused_redis))
    assert not outage.is_outage(raised_by(duplicate_key))
    assert not outage.is_outage(raised_by(lambda: connection.get_redis().execute_command("NO-SUCH-COMMAND")))


def test_retrying_retries_an_outage_until_it_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outage, "FIRST_BACKOFF_S", 0.01)
    calls = []

    def down_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            refused_redis()
        return "written"

    assert outage.retrying("a write", down_twice, budget_s=5) == "written" and len(calls) == 3


def test_retrying_raises_at_once_on_a_refusal_and_after_its_budget(store_url: str) -> None:
    calls = []

    def refuse() -> None:
        calls.append(1)
        duplicate_key()

    with pytest.raises(IntegrityError):
        outage.retrying("a write", refuse, budget_s=60)
    assert len(calls) == 1
    with pytest.raises(Exception) as raised:  # the first backoff (0.5 s) is past a budget of 0: no wait
        outage.retrying("a write", refused_redis, budget_s=0)
    assert outage.is_outage(raised.value)
