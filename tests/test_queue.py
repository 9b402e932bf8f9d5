"""worker.queue: the RQ queue on real Redis (database 15, a unique queue) and the test database: a run's job carries
only the run id (RQ's JSON serializer) with a timeout for its epochs, and the queue's counts."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.reliability_support import in_process_env, run_row, tiny
from worker import connection, queue, submission

TINY = tiny()


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with in_process_env(tmp_path, cifar_dir, database_url, monkeypatch) as folder:
        yield folder


def test_job_payload_is_only_the_run_id(env: Path) -> None:
    run_id = submission.submit_run(TINY)
    job_id = run_row(run_id).job_id
    assert job_id is not None
    job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    assert job.func_name == queue.JOB_FUNCTION
    assert job.args == [run_id] and job.kwargs == {}
    raw = json.loads(zlib.decompress(connection.get_redis().hget(job.key, "data")))  # what Redis actually holds
    assert raw[2:] == [[run_id], {}]
    assert job.timeout == queue.job_timeout_s(TINY.epochs)


def test_queue_stats(env: Path) -> None:
    submission.submit_run(TINY)
    stats = queue.queue_stats()
    assert stats["queued"] == 1 and stats["started"] == 0
