"""worker.queue: the RQ queue on real Redis (database 15, a unique queue) and the test database: a run's job carries
only the run id (RQ's JSON serializer) with a timeout for its epochs, and the queue's counts (the jobs' callbacks:
test_rq_jobs.py)."""

from __future__ import annotations

import json
import zlib

from rq.job import Job
from rq.serializers import JSONSerializer

from tests.reliability_support import run_row
from tests.run_support import tiny
from worker import connection, queue, rq_jobs, submission

TINY = tiny()


def test_job_payload_is_only_the_run_id(redis_env: dict) -> None:
    run_id = submission.submit_run(TINY)
    job_id = run_row(run_id).job_id
    assert job_id is not None
    job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    assert job.func_name == rq_jobs.JOB_FUNCTION
    assert job.args == [run_id] and job.kwargs == {}
    raw = json.loads(zlib.decompress(connection.get_redis().hget(job.key, "data")))  # what Redis actually holds
    assert raw[2:] == [[run_id], {}]
    assert job.timeout == queue.job_timeout_s(TINY.epochs)


def test_a_submitted_run_waits_on_the_queue(redis_env: dict) -> None:
    submission.submit_run(TINY)
    run_queue = queue.get_queue()
    assert run_queue.count == 1 and run_queue.started_job_registry.count == 0
