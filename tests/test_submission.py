"""worker.submission: submitting a run writes its row only when Redis answers, and a run whose job Redis refuses
stays marked failed with the reason (real Redis, database 15, a unique queue; the test database).

Seeds, sweeps and resume are submitted in test_seeds.py, test_sweep.py, test_integrity.py and test_runner.py.
"""

from __future__ import annotations

import pytest

from tests.reliability_support import run_row
from tests.run_support import tiny
from worker import connection, db, queue, store, submission
from worker.schema import RunStatus

TINY = tiny()


def test_submit_without_redis_writes_nothing(redis_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert not connection.redis_available()
    with pytest.raises(connection.QueueError, match="not reachable"):
        submission.submit_run(TINY)
    with db.session_scope() as s:
        assert store.list_runs(s) == []


def test_enqueue_refused_keeps_the_run_marked_failed(redis_env: dict) -> None:
    redis = connection.get_redis()
    key = queue.get_queue().key
    redis.set(key, "not a list")  # the queue's key has the wrong type, so Redis refuses the job
    try:
        with pytest.raises(connection.QueueError, match="refused") as raised:
            submission.submit_run(TINY)
    finally:
        redis.delete(key)
    run_id = raised.value.run_id
    assert run_id is not None
    run = run_row(run_id)
    assert run.status is RunStatus.FAILED
    assert run.reason is not None and run.reason.startswith("not queued: Redis at") and "WRONGTYPE" in run.reason
