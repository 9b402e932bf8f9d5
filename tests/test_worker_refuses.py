"""Only VGP Lab's job runs on a worker: anyone who can write to Redis can enqueue a job naming any function
(RQ imports and calls it), so a real forking worker must leave every other job failed, unrun, with the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.reliability_support import WorkerProcess, fast_worker_env
from worker import connection, queue


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    with fast_worker_env(tmp_path, cifar_dir, database_url, monkeypatch) as variables:
        yield variables


def foreign_jobs(marker: Path) -> dict[str, tuple[str, tuple, dict]]:
    """name -> (function, args, enqueue options): each would touch `marker` or pass a non-id to our job."""
    touch = f"touch {marker}"
    return {
        "os.system": ("os.system", (touch,), {}),
        "subprocess": ("subprocess.getoutput", (touch,), {}),
        "str_run_id": (queue.JOB_FUNCTION, ("1",), {}),
        "two_args": (queue.JOB_FUNCTION, (1, 2), {}),
        "bool_run_id": (queue.JOB_FUNCTION, (True,), {}),
        "foreign_callback": (queue.JOB_FUNCTION, (987654,), {"on_failure": Callback("os.system")}),
    }


def test_the_worker_refuses_every_job_but_ours(env: dict, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    q = queue.get_queue()
    jobs = foreign_jobs(marker).items()
    refused = {name: q.enqueue(func, *args, **options).id for name, (func, args, options) in jobs}
    ours = q.enqueue(queue.JOB_FUNCTION, 987654).id  # a run that does not exist: the job runs and says "missing"
    worker = WorkerProcess(env, tmp_path / "worker.log", burst=True)
    assert worker.proc.wait(timeout=120) == 0, worker.log()[-3000:]
    worker.stop()
    assert not marker.exists()
    for name, job_id in refused.items():
        job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
        assert job.get_status() == "failed", name
        reason = job.latest_result().exc_string
        assert reason.startswith("refused by VGP Lab's worker: ") and "\n" not in reason, (name, reason)
    assert not q.intermediate_queue.get_job_ids()  # nothing left for RQ's cleanup to fail a second time
    done = Job.fetch(ours, connection=connection.get_redis(), serializer=JSONSerializer)
    assert done.get_status() == "finished" and done.return_value() == "missing"
