"""worker.liveness: RQ jobs seen from outside, on the real Redis: a queued job is pending but not alive, a job
that is not executing cannot be stopped, a dropped one is no longer pending, and a Redis that does not answer
raises QueueError instead of judging anything dead."""

from __future__ import annotations

import socket
import uuid

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from tests.env_support import REDIS_URL
from worker import connection, liveness, rq_jobs

STALE_S = 30.0


@pytest.fixture
def queued_job(monkeypatch: pytest.MonkeyPatch):
    """A job on a queue of its own that no worker listens on (it never starts)."""
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    queue = Queue(f"vgp-test-liveness-{uuid.uuid4().hex[:8]}", connection=connection.get_redis(),
                  serializer=JSONSerializer)  # fmt: skip
    job = queue.enqueue("worker.jobs.train_run", 1)
    yield job
    queue.delete(delete_jobs=True)


def test_a_queued_job_is_pending_not_alive_and_cannot_be_stopped(queued_job) -> None:
    assert rq_jobs.fetch_job(queued_job.id).id == queued_job.id
    assert liveness.job_pending(queued_job.id, STALE_S)
    assert not liveness.job_alive(queued_job.id, STALE_S)  # not started on any worker
    assert liveness.stop_job(queued_job.id) is False  # RQ stops only an executing job


def test_a_dropped_job_is_no_longer_pending(queued_job) -> None:
    liveness.drop_job(queued_job.id)
    assert not liveness.job_pending(queued_job.id, STALE_S)
    liveness.drop_job(None)  # nothing to drop: no error


def test_a_job_redis_does_not_know_is_neither_pending_nor_alive(queued_job) -> None:
    gone = f"vgp-run-0-{uuid.uuid4().hex[:8]}"
    assert rq_jobs.fetch_job(gone) is None
    assert not liveness.job_pending(gone, STALE_S) and not liveness.job_alive(gone, STALE_S)
    assert not liveness.job_pending(None, STALE_S) and not liveness.job_alive(None, STALE_S)


def test_without_redis_nothing_is_judged_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    with pytest.raises(connection.QueueError, match="not reachable"):
        liveness.job_alive("vgp-run-1-abc", STALE_S)
    with pytest.raises(connection.QueueError, match="not reachable"):
        liveness.job_pending("vgp-run-1-abc", STALE_S)
