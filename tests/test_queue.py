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

from tests.reliability_support import run_row, work_in_process
from tests.run_support import tiny
from vgp_models.landscape_config import LandscapeConfig
from vgp_models.sweep_config import SweepConfig
from worker import connection, db, landscapes, queue, rq_jobs, runner, submission, sweeps
from worker.rq_jobs import callbacks
from worker.schema import RunStatus
from worker.store import require_run

TINY = tiny()


def abandon(job: Job) -> None:
    """Leave `job` started on a worker long gone (RQ keys started entries as job_id:execution_id), as a worker
    that died mid-job does: the next registry cleaning calls its failure callback."""
    job.set_status(JobStatus.STARTED)
    run_queue = queue.get_queue()
    run_queue.connection.zadd(run_queue.started_job_registry.key, {f"{job.id}:gone": 1})


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


def test_a_callback_planted_in_redis_is_never_called(
    redis_env: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job in the started registry whose worker is gone is "abandoned": every worker's registry cleaning (and any
    count of that registry) calls its failure callback, importing it by the name stored in Redis."""
    marker = tmp_path / "planted-callback-ran"
    monkeypatch.setenv("VGP_TEST_PLANTED_MARKER", str(marker))
    run_queue = queue.get_queue()
    planted = run_queue.enqueue(
        rq_jobs.JOB_FUNCTION, 1, on_failure=Callback("tests.reliability_support.planted_callback")
    )  # what anyone who can write to Redis could leave there

    abandon(planted)
    runner.make_worker(burst_in_process=True).clean_registries()  # what a worker does every few minutes
    assert not marker.exists()  # the planted callback was neither imported nor called
    assert planted.id in run_queue.failed_job_registry.get_job_ids()  # yet the abandoned job was cleaned up

    abandon(planted)  # the same clean-up with RQ's own Job class: the test would catch a regression
    StartedJobRegistry(run_queue.name, connection=run_queue.connection, serializer=JSONSerializer).cleanup()
    assert marker.read_text() == planted.id


# ---- jobs stored in Redis by the version before worker.rq_jobs.callbacks ------------------------------------

PREVIOUS_CALLBACKS = {
    rq_jobs.JOB_FUNCTION: {"on_failure": "worker.queue.on_job_failure", "on_stopped": "worker.queue.on_job_stopped"},
    rq_jobs.SWEEP_FUNCTION: {"on_failure": "worker.queue.on_sweep_failure"},
    rq_jobs.LANDSCAPE_FUNCTION: {"on_failure": "worker.queue.on_landscape_failure"},
}
"""The callbacks that version enqueued each job function with, by the paths it stored (they lived in worker.queue)."""

ITEMS = {  # kind -> (job function, submit one, its stored row)
    "run": (rq_jobs.JOB_FUNCTION, lambda: submission.submit_run(TINY), require_run),
    "sweep": (rq_jobs.SWEEP_FUNCTION, lambda: submission.submit_sweep(SweepConfig()), sweeps.require_sweep),
    "landscape": (
        rq_jobs.LANDSCAPE_FUNCTION,
        lambda: submission.submit_landscape(LandscapeConfig(preset="vgg08", dims=1, points=3, images=8)),
        landscapes.require_landscape,
    ),
}


def enqueued_as_before(kind: str) -> tuple[int, Job]:
    """Submit an item of `kind`, then put its job back as the previous version enqueued it: the same function,
    id and job id, its callbacks by their old paths. (The item id, the job as a worker fetches it.)"""
    function, submit, require = ITEMS[kind]
    item_id = submit()
    with db.session_scope() as s:
        job_id = require(s, item_id).job_id
    rq_jobs.fetch_job(job_id).delete()
    options = {option: Callback(path) for option, path in PREVIOUS_CALLBACKS[function].items()}
    queue.get_queue().enqueue(function, item_id, job_id=job_id, **options)
    return item_id, rq_jobs.fetch_job(job_id)


@pytest.mark.parametrize("kind", ITEMS)
def test_a_job_stored_with_the_previous_callback_paths_is_run_and_its_failure_callback_fires(
    redis_env: dict, kind: str
) -> None:
    item_id, job = enqueued_as_before(kind)
    assert job._failure_callback_name.startswith("worker.queue.")  # the old path, as Redis holds it
    assert rq_jobs.job_refusal(job) is None  # a worker runs it
    assert job.failure_callback.__module__ == callbacks.__name__
    abandon(job)  # its worker died: the registry cleaning calls the failure callback by the old path
    runner.make_worker(burst_in_process=True).clean_registries()
    with db.session_scope() as s:
        item = ITEMS[kind][2](s, item_id)
        assert item.status is RunStatus.FAILED and "AbandonedJobError" in (item.reason or ""), item.reason


def test_a_run_job_stored_with_the_previous_callback_paths_trains(redis_env: dict) -> None:
    run_id, job = enqueued_as_before("run")
    assert job.stopped_callback is callbacks.on_job_stopped
    work_in_process()
    assert run_row(run_id).status is RunStatus.COMPLETED, run_row(run_id).reason
