# ruff: noqa: F401, F811 - the fixture `in_process` comes from tests.reliability_support
"""worker.queue: the RQ queue on real Redis (database 15, a unique queue) and the test database: a run's job carries
only the run id (RQ's JSON serializer) with a timeout for its epochs, the queue's counts, and callbacks: only
ours are ever imported, even for a job planted in Redis that a worker cleans up as abandoned."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from rq import Callback
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from tests.reliability_support import in_process, run_row, tiny
from worker import connection, queue, rq_jobs, runner, submission

TINY = tiny()


def test_job_payload_is_only_the_run_id(in_process: Path) -> None:
    run_id = submission.submit_run(TINY)
    job_id = run_row(run_id).job_id
    assert job_id is not None
    job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    assert job.func_name == rq_jobs.JOB_FUNCTION
    assert job.args == [run_id] and job.kwargs == {}
    raw = json.loads(zlib.decompress(connection.get_redis().hget(job.key, "data")))  # what Redis actually holds
    assert raw[2:] == [[run_id], {}]
    assert job.timeout == queue.job_timeout_s(TINY.epochs)


def test_a_submitted_run_waits_on_the_queue(in_process: Path) -> None:
    submission.submit_run(TINY)
    run_queue = queue.get_queue()
    assert run_queue.count == 1 and run_queue.started_job_registry.count == 0


def test_a_callback_planted_in_redis_is_never_called(
    in_process: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job in the started registry whose worker is gone is "abandoned": every worker's registry cleaning (and any
    count of that registry) calls its failure callback, importing it by the name stored in Redis."""
    marker = tmp_path / "planted-callback-ran"
    monkeypatch.setenv("VGP_TEST_PLANTED_MARKER", str(marker))
    run_queue = queue.get_queue()
    planted = run_queue.enqueue(
        rq_jobs.JOB_FUNCTION, 1, on_failure=Callback("tests.reliability_support.planted_callback")
    )  # what anyone who can write to Redis could leave there

    def abandon() -> None:  # started, on a worker long gone (RQ keys started entries as job_id:execution_id)
        planted.set_status(JobStatus.STARTED)
        run_queue.connection.zadd(run_queue.started_job_registry.key, {f"{planted.id}:gone": 1})

    abandon()
    runner.make_worker(burst_in_process=True).clean_registries()  # what a worker does every few minutes
    assert not marker.exists()  # the planted callback was neither imported nor called
    assert planted.id in run_queue.failed_job_registry.get_job_ids()  # yet the abandoned job was cleaned up

    abandon()  # the same clean-up with RQ's own Job class: the test would catch a regression
    StartedJobRegistry(run_queue.name, connection=run_queue.connection, serializer=JSONSerializer).cleanup()
    assert marker.read_text() == planted.id
