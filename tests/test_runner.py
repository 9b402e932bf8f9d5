"""worker.runner: the worker process and its callbacks. Against a real forking worker process (`python -m worker
worker`): only VGP Lab's job runs (anyone who can write to Redis can enqueue a job naming any function, and RQ
imports and calls it, so every other job is left failed, unrun, with the reason); a job deaf to its cancel flag is
stopped with RQ's stop-job command after the grace period by the worker's reconcile thread; failing or dying jobs
never stop the worker. In this process: a killed work horse marks its run interrupted, and the run can be resumed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rq import Callback
from rq.job import Job
from rq.serializers import JSONSerializer

from tests.reliability_support import (
    WorkerProcess,
    dying_job,
    enqueue_stub,
    epochs_of,
    raising_job,
    run_row,
    stubborn_job,
    wait_for,
    work_in_process,
)
from tests.run_support import tiny
from worker import cancellation, connection, db, queue, rq_jobs, store, submission
from worker.rq_jobs import callbacks
from worker.schema import RunStatus

TINY = tiny()


def job(job_id: str) -> Job:
    return Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)


def test_a_job_deaf_to_its_cancel_flag_is_stopped_after_the_grace_period(fast_env: dict, tmp_path: Path) -> None:
    with db.session_scope() as s:
        run_id = store.create_run(s, tiny(epochs=5)).id
    job_id = enqueue_stub(stubborn_job, run_id, run_id=run_id)
    worker = WorkerProcess(fast_env, tmp_path / "worker.log", stubs=True)  # reconciles every second; grace 1 s (FAST)
    try:
        wait_for(lambda: run_row(run_id).epochs_done == 1, 60, what="the stubborn job to record an epoch")
        (horse,) = worker.horses()
        assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
        wait_for(lambda: run_row(run_id).status.finished, 30, 0.2, "the run to be stopped")
        assert worker.proc.poll() is None  # the worker itself lives on
        assert horse not in worker.horses()
    finally:
        log = worker.log()
        worker.stop()
    run = run_row(run_id)
    assert run.status is RunStatus.CANCELLED, run.reason
    assert "did not stop on its flag" in (run.reason or "")
    assert len(epochs_of(run_id)) == 1 and run.epochs_done == 1  # what it logged is kept
    assert job(job_id).get_status() == "stopped"
    assert not cancellation.cancel_requested(run_id)
    assert "sent RQ's stop-job command" in log


def test_failed_and_dying_jobs_never_stop_the_worker(fast_env: dict, tmp_path: Path) -> None:
    raising = enqueue_stub(raising_job, 999_999)  # a valid id (1..2**31-1) of no run: the job itself fails
    dying = enqueue_stub(dying_job, 999_999)
    good = submission.submit_run(tiny(epochs=2))
    worker = WorkerProcess(fast_env, tmp_path / "worker.log", burst=True, stubs=True)
    assert worker.proc.wait(timeout=180) == 0, worker.log()[-3000:]
    worker.stop()
    run = run_row(good)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert job(raising).get_status() == "failed" and job(dying).get_status() == "failed"
    assert "this job fails on purpose" in job(raising).latest_result().exc_string
    assert "Work-horse terminated unexpectedly" in job(dying).latest_result().exc_string
    assert job(raising).worker_name == run.worker_name  # one worker process ran all three, in order


def foreign_jobs(marker: Path) -> dict[str, tuple[str, tuple, dict]]:
    """name -> (function, args, enqueue options): each would touch `marker` or pass a non-id to our job."""
    touch = f"touch {marker}"
    return {
        "os.system": ("os.system", (touch,), {}),
        "subprocess": ("subprocess.getoutput", (touch,), {}),
        "str_run_id": (rq_jobs.JOB_FUNCTION, ("1",), {}),
        "two_args": (rq_jobs.JOB_FUNCTION, (1, 2), {}),
        "bool_run_id": (rq_jobs.JOB_FUNCTION, (True,), {}),
        "huge_run_id": (rq_jobs.JOB_FUNCTION, (10**30,), {}),  # issue 17.15: an OverflowError traceback
        "int64_run_id": (rq_jobs.JOB_FUNCTION, (2**63,), {}),
        "int4_run_id": (rq_jobs.JOB_FUNCTION, (2**31,), {}),  # one past Postgres's Integer
        "zero_run_id": (rq_jobs.JOB_FUNCTION, (0,), {}),
        "huge_sweep_id": (rq_jobs.SWEEP_FUNCTION, (-(2**63),), {}),
        "foreign_callback": (rq_jobs.JOB_FUNCTION, (987654,), {"on_failure": Callback("os.system")}),
    }


def test_the_worker_refuses_every_job_but_ours(fast_env: dict, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    q = queue.get_queue()
    jobs = foreign_jobs(marker).items()
    refused = {name: q.enqueue(func, *args, **options).id for name, (func, args, options) in jobs}
    ours = q.enqueue(rq_jobs.JOB_FUNCTION, 987654).id  # a run that does not exist: the job runs and says "missing"
    worker = WorkerProcess(fast_env, tmp_path / "worker.log", burst=True)
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
