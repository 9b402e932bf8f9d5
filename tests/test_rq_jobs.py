"""worker.rq_jobs: what a job may be and which callbacks it may name. A job names one of JOB_FUNCTIONS with exactly
one id; only our callbacks are ever imported, even for a job planted in Redis that a worker cleans up as abandoned;
a job stored with an earlier version's callback paths still runs and calls them where they live now; the callbacks
(rq_jobs.callbacks) act only on ids in the database's range, and a killed work horse marks its run interrupted.
On real Redis (database 15, a unique queue) and the test database."""

from __future__ import annotations

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
from worker import connection, db, landscapes, queue, rq_jobs, runner, store, submission, sweeps
from worker.rq_jobs import callbacks
from worker.schema import RunStatus
from worker.store import require_run

TINY = tiny()


def new_job(func: str, *args: object, **options: object) -> Job:
    """A job as Redis would hold it (not enqueued): what job_refusal reads."""
    return Job.create(func, args=args, connection=connection.get_redis(), serializer=JSONSerializer, **options)


def test_only_our_functions_with_one_id_and_our_callbacks_are_accepted(redis_env: dict) -> None:
    ours = Callback(rq_jobs.JOB_CALLBACKS[rq_jobs.JOB_FUNCTION]["failure"])
    assert rq_jobs.job_refusal(new_job(rq_jobs.JOB_FUNCTION, 1, on_failure=ours)) is None
    assert rq_jobs.job_refusal(new_job(rq_jobs.SWEEP_FUNCTION, rq_jobs.MAX_ID)) is None
    assert "names the function 'os.system'" in rq_jobs.job_refusal(new_job("os.system", "true"))
    for args in [(), (1, 2), (0,), (rq_jobs.MAX_ID + 1,), (True,), ("1",)]:
        assert "exactly one run id" in rq_jobs.job_refusal(new_job(rq_jobs.JOB_FUNCTION, *args)), args
    foreign = new_job(rq_jobs.JOB_FUNCTION, 1, on_stopped=Callback("os.system"))
    assert rq_jobs.job_refusal(foreign) == "its stopped callback 'os.system' is not VGP Lab's"


def abandon(job: Job) -> None:
    """Leave `job` started on a worker long gone (RQ keys started entries as job_id:execution_id), as a worker
    that died mid-job does: the next registry cleaning calls its failure callback."""
    job.set_status(JobStatus.STARTED)
    run_queue = queue.get_queue()
    run_queue.connection.zadd(run_queue.started_job_registry.key, {f"{job.id}:gone": 1})


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


# ---- the callbacks (worker.rq_jobs.callbacks) ----------------------------------------------------------------


def test_dead_work_horse_marks_interrupted_then_resume_finishes(redis_env: dict) -> None:
    run_id = submission.submit_run(TINY)
    job = Job.fetch(run_row(run_id).job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    with db.session_scope() as s:
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    job.delete()  # the dead horse's job is gone from Redis too
    callbacks.on_work_horse_killed(job, 1234, 9, None)  # what the forking worker calls: horse killed by SIGKILL
    run = run_row(run_id)
    assert run.status is RunStatus.INTERRUPTED and "signal 9" in (run.reason or "")

    new_job_id = submission.resume_run(run_id)
    assert run_row(run_id).status is RunStatus.QUEUED and run_row(run_id).job_id == new_job_id
    work_in_process()
    assert run_row(run_id).status is RunStatus.COMPLETED
    with pytest.raises(ValueError, match="only interrupted, failed or cancelled"):
        submission.resume_run(run_id)


@pytest.mark.parametrize("run_id", [0, -1, 2**31, 2**63, 10**30, True, "1"])
def test_callbacks_never_act_on_an_id_outside_the_database_range(run_id: object) -> None:
    """The failure and stopped callbacks (and a dying horse's hook) read the run id with job_run_id: None here."""
    fake = Job.create(
        rq_jobs.JOB_FUNCTION, args=(run_id,), connection=connection.get_redis(), serializer=JSONSerializer
    )
    assert callbacks.job_run_id(fake) is None
    ok = Job.create(
        rq_jobs.JOB_FUNCTION, args=(2**31 - 1,), connection=connection.get_redis(), serializer=JSONSerializer
    )
    assert callbacks.job_run_id(ok) == 2**31 - 1
