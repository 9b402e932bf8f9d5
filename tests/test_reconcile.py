"""worker.reconcile, the crash recovery and lost-Redis repair, step by step, in this process: real Redis (database 15,
a unique queue), the test database. Dead running runs are interrupted and resumed once, live ones left alone, cancels
past their grace stopped, queued runs whose job is gone queued again, nothing judged while Redis is down; and
`python -m worker reconcile`.

Worker death is staged in Redis (a registered worker whose heartbeat stops), so each rule is tested exactly;
test_reliability_crash.py does the same with real processes and SIGKILL.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rq.utils import utcformat
from sqlalchemy import update

from tests.cli_support import cli
from tests.reliability_support import run_row, running_run
from tests.run_support import tiny
from worker import cancellation, connection, db, liveness, queue, reconcile, rq_jobs, runner, store, submission
from worker.rq_jobs import callbacks
from worker.schema import Run, RunStatus, utcnow
from worker.settings import Settings

SETTINGS = Settings(heartbeat_s=1, stale_after_s=5, reconcile_interval_s=1, cancel_grace_s=2, auto_resumes=1)


class LiveWorker:
    """An RQ worker registered in Redis that 'executes' a run's job: it heartbeats only when told to."""

    def __init__(self, run_id: int) -> None:
        self.worker = runner.make_worker(burst_in_process=True, name=f"live-{run_id}")
        self.worker.register_birth()
        self.job_id = queue.enqueue_run(run_id)
        job = rq_jobs.fetch_job(self.job_id)
        queue.get_queue().remove(job)
        with connection.get_redis().pipeline() as pipe:
            job.prepare_for_execution(self.worker.name, pipe)  # status started, worker_name set
            pipe.execute()

    def fall_silent(self, seconds: float) -> None:
        old = utcnow() - timedelta(seconds=seconds)
        connection.get_redis().hset(self.worker.key, "last_heartbeat", utcformat(old))

    def close(self) -> None:
        self.worker.register_death()


def test_a_dead_running_run_is_interrupted_then_resumed_once(redis_env: dict) -> None:
    run_id = running_run(heartbeat_age_s=60, job_id="vgp-run-gone")  # its job is nowhere in Redis
    report = reconcile.reconcile(SETTINGS)
    assert report.interrupted == [run_id] and report.resumed == [run_id]
    run = run_row(run_id)
    assert run.status is RunStatus.QUEUED and run.auto_resumes == 1
    assert run.job_id in queue.get_queue().job_ids  # a fresh job

    with db.session_scope() as s:  # it dies again: no second automatic resume
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
        s.execute(update(Run).where(Run.id == run_id).values(heartbeat_at=utcnow() - timedelta(minutes=5)))
    queue.get_queue().empty()
    report = reconcile.reconcile(SETTINGS)
    assert report.interrupted == [run_id] and report.resumed == []
    run = run_row(run_id)
    assert run.status is RunStatus.INTERRUPTED and run.auto_resumes == 1
    assert run.reason and "no heartbeat for" in run.reason and "\n" not in run.reason
    assert not reconcile.reconcile(SETTINGS)  # idempotent: nothing more to do

    submission.resume_run(run_id)  # a person can always resume it
    assert run_row(run_id).status is RunStatus.QUEUED and run_row(run_id).auto_resumes == 1


def test_auto_resumes_can_be_turned_off(redis_env: dict) -> None:
    run_id = running_run()
    report = reconcile.reconcile(Settings(**{**vars(SETTINGS), "auto_resumes": 0}))
    assert report.interrupted == [run_id] and not report.resumed
    assert run_row(run_id).status is RunStatus.INTERRUPTED


def test_fresh_heartbeat_or_live_worker_is_left_alone(redis_env: dict) -> None:
    fresh = running_run(heartbeat_age_s=0)
    silent = running_run(heartbeat_age_s=60)
    live = LiveWorker(silent)
    try:
        live_job = run_row(silent).job_id
        assert liveness.job_alive(live_job, SETTINGS.stale_after_s)
        assert not reconcile.reconcile(SETTINGS)  # a long evaluation pass: the DB heartbeat is old, RQ's is not
        assert {run_row(fresh).status, run_row(silent).status} == {RunStatus.RUNNING}

        live.fall_silent(60)  # the worker process was SIGKILLed a minute ago
        assert not liveness.job_alive(live_job, SETTINGS.stale_after_s)
        assert reconcile.reconcile(SETTINGS).interrupted == [silent]
        assert run_row(fresh).status is RunStatus.RUNNING
    finally:
        live.close()


def test_cancel_past_grace_sends_stop_job_to_the_live_worker(redis_env: dict) -> None:
    run_id = running_run(heartbeat_age_s=0)
    live = LiveWorker(run_id)
    pubsub = connection.get_redis().pubsub()
    pubsub.subscribe(live.worker.pubsub_channel_name)
    try:
        assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
        assert not reconcile.reconcile(SETTINGS)  # within the grace period: the job's own poll should do it
        with db.session_scope() as s:  # requested long ago
            s.execute(update(Run).where(Run.id == run_id).values(cancel_requested_at=utcnow() - timedelta(hours=1)))
        assert reconcile.reconcile(SETTINGS).stopped == [run_id]
        messages = [pubsub.get_message(timeout=2) for _ in range(3)]
        payloads = [json.loads(m["data"]) for m in messages if m and m["type"] == "message"]
        assert payloads == [{"command": "stop-job", "job_id": live.job_id}]
        assert run_row(run_id).status is RunStatus.RUNNING  # the worker's stopped callback will cancel it

        job = rq_jobs.fetch_job(live.job_id)
        callbacks.on_job_stopped(job, connection.get_redis())  # what the worker runs after killing the horse
        run = run_row(run_id)
        assert run.status is RunStatus.CANCELLED and "did not stop when asked" in (run.reason or "")
        assert not cancellation.cancel_requested(run_id)
    finally:
        pubsub.close()
        live.close()


def test_cancelled_run_whose_worker_died_is_cancelled_not_resumed(redis_env: dict) -> None:
    run_id = running_run(heartbeat_age_s=60)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    report = reconcile.reconcile(SETTINGS)
    assert report.cancelled == [run_id] and not report.interrupted and not report.resumed
    assert run_row(run_id).status is RunStatus.CANCELLED
    assert not cancellation.cancel_requested(run_id)


def test_queued_run_whose_job_is_gone_is_queued_again(redis_env: dict) -> None:
    with db.session_scope() as s:
        lost, waiting, fresh = (store.create_run(s, tiny()).id for _ in range(3))
    lost_job = queue.enqueue_run(lost)
    queue.enqueue_run(waiting)
    rq_jobs.fetch_job(lost_job).delete()  # Redis lost it
    report = reconcile.reconcile(SETTINGS)
    assert report.requeued == [lost]  # `fresh` has no job yet: it is being submitted right now
    assert run_row(lost).job_id != lost_job and run_row(lost).job_id in queue.get_queue().job_ids
    assert len(queue.get_queue().job_ids) == 2


def test_redis_down_judges_nothing(redis_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = running_run(heartbeat_age_s=600)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(connection.QueueError, match="not reachable"):
        reconcile.reconcile(SETTINGS)
    assert reconcile.reconcile_quietly(SETTINGS) is None
    assert run_row(run_id).status is RunStatus.RUNNING


def test_reconcile_command_line(redis_env: dict) -> None:
    run_id = running_run(heartbeat_age_s=600)
    done = cli({**redis_env, "VGP_AUTO_RESUMES": "0"}, "reconcile")
    assert done.returncode == 0, done.stderr
    assert f"interrupted [{run_id}]" in done.stdout
    assert run_row(run_id).status is RunStatus.INTERRUPTED
