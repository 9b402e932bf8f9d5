"""The whole middle layer: submit_run (as the Launch page calls it) -> real Redis -> RQ worker -> the job -> SQLite.

Each test gets its own database (a SQLite file, or Postgres with VGP_TEST_DATABASE=postgres) and its own RQ
queue name on Redis database 15, removed afterwards.
Runs are tiny (depth 8, width 8, subset 64, batch 32) so that a test trains in about a second on a CPU.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select

from vgp_models.config import RunConfig
from vgp_models.gradstats import weight_parameters
from vgp_models.train import build_model
from worker import cancellation, connection, db, frames, queue, runner, store, submission
from worker.schema import CheckpointRow, Run, RunStatus
from worker.store import RunMeta

REDIS_URL = "redis://127.0.0.1:6379/15"
TINY = RunConfig(depth=8, width=8, epochs=2, subset=64, batch_size=32, device="cpu")


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    name = f"vgp-test-{uuid.uuid4().hex[:8]}"
    url = database_url  # SQLite, or Postgres with VGP_TEST_DATABASE=postgres
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VGP_QUEUE", name)
    monkeypatch.setenv("VGP_DATA_DIR", str(cifar_dir))
    monkeypatch.setenv("VGP_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))
    db.upgrade_database(url)
    yield tmp_path
    redis = connection.get_redis(REDIS_URL)  # explicit: a test may have pointed REDIS_URL elsewhere
    q = queue.get_queue(name, connection=redis)
    for registry in (q.failed_job_registry, q.finished_job_registry, q.canceled_job_registry):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    q.delete(delete_jobs=True)
    flags = cancellation.CANCEL_KEY.format(queue=name, database="*", run_id="*", run_uuid="*")
    for key in redis.scan_iter(match=flags):
        redis.delete(key)
    db.dispose_engines()


def work() -> None:
    """Run every queued job in this process (SimpleWorker, JSON serializer), then return."""
    runner.make_worker(burst_in_process=True).work(burst=True)


def run_of(run_id: int) -> Run:
    with db.session_scope() as s:
        return store.require_run(s, run_id)


def stored_frames(run_id: int) -> tuple:
    with db.session_scope() as s:
        return frames.epochs_frame(s, [run_id]), frames.gradients_frame(s, [run_id])


def test_submit_then_work_completes(env: Path) -> None:
    run_id = submission.submit_run(TINY, RunMeta(name="e2e", group="tests", tags=["tiny"]))
    assert run_of(run_id).status is RunStatus.QUEUED
    work()

    run = run_of(run_id)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert run.epochs_done == TINY.epochs and run.test_acc is not None and run.test_loss is not None
    assert run.best_epoch in (1, 2) and run.best_val_acc is not None
    assert run.params and run.params > 0 and run.device == "cpu"
    assert run.started_at and run.finished_at and run.worker_name and run.job_id
    epochs, grads = stored_frames(run_id)
    layers = len(weight_parameters(build_model(TINY)))
    assert len(epochs) == TINY.epochs
    assert len(grads) == TINY.epochs * layers
    assert ((epochs["train_acc"] >= 0) & (epochs["train_acc"] <= 1)).all()
    with db.session_scope() as s:  # checkpoints live in the database; a completed run keeps only `best`
        kept = [(c.kind, c.epoch) for c in s.scalars(select(CheckpointRow).where(CheckpointRow.run_id == run_id))]
    assert kept == [("best", run.best_epoch)]
    assert not (env / "checkpoints").exists()  # nothing on the worker's disk


def test_job_payload_is_only_the_run_id(env: Path) -> None:
    run_id = submission.submit_run(TINY)
    job_id = run_of(run_id).job_id
    assert job_id is not None
    job = Job.fetch(job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    assert job.func_name == queue.JOB_FUNCTION
    assert job.args == [run_id] and job.kwargs == {}
    raw = json.loads(zlib.decompress(connection.get_redis().hget(job.key, "data")))  # what Redis actually holds
    assert raw[2:] == [[run_id], {}]
    assert job.timeout == queue.job_timeout_s(TINY.epochs)


def test_missing_data_fails_with_the_location(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = env / "nowhere"
    monkeypatch.setenv("VGP_DATA_DIR", str(missing))
    run_id = submission.submit_run(TINY)
    work()
    run = run_of(run_id)
    assert run.status is RunStatus.FAILED
    assert run.reason and str(missing) in run.reason and run.reason.startswith("DataError: ")
    assert "\n" not in run.reason
    assert stored_frames(run_id)[0].empty


def test_unknown_run_id_does_not_crash_the_worker(env: Path) -> None:
    job = queue.get_queue().enqueue(queue.JOB_FUNCTION, 987654)
    after = submission.submit_run(TINY)  # the worker goes on to the next job
    work()
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "missing"
    assert run_of(after).status is RunStatus.COMPLETED


def test_bad_stored_config_fails_cleanly(env: Path) -> None:
    with db.session_scope() as s:
        run = store.create_run(s, TINY)
        run.config = {**TINY.to_dict(), "depth": 9}
        run_id = run.id
    queue.enqueue_run(run_id)
    work()
    run = run_of(run_id)
    assert run.status is RunStatus.FAILED
    assert run.reason is not None and run.reason.startswith("invalid stored config: ConfigError: depth must be")


def test_cancel_a_queued_run(env: Path) -> None:
    run_id = submission.submit_run(TINY)
    assert cancellation.cancel_run(run_id) is RunStatus.CANCELLED
    assert run_of(run_id).job_id not in queue.get_queue().job_ids
    work()
    run = run_of(run_id)
    assert run.status is RunStatus.CANCELLED and run.started_at is None and run.finished_at is not None
    assert cancellation.cancel_run(run_id) is RunStatus.CANCELLED  # cancelling again changes nothing


def test_cancel_a_running_run_through_the_flag(env: Path) -> None:
    run_id = submission.submit_run(RunConfig(depth=8, width=8, epochs=200, subset=64, batch_size=32, device="cpu"))
    with db.session_scope() as s:  # as if a worker had just started it
        assert store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    assert cancellation.cancel_requested(run_id)
    with db.session_scope() as s:  # hand it back to the queue so that the real job runs and sees the flag
        assert store.transition_run(s, run_id, [RunStatus.RUNNING], RunStatus.QUEUED)
    work()
    run = run_of(run_id)
    assert run.status is RunStatus.CANCELLED, run.reason
    assert run.epochs_done < 200
    assert not cancellation.cancel_requested(run_id)  # the job cleared its flag


def test_dead_work_horse_marks_interrupted_then_resume_finishes(env: Path) -> None:
    run_id = submission.submit_run(TINY)
    job = Job.fetch(run_of(run_id).job_id, connection=connection.get_redis(), serializer=JSONSerializer)
    with db.session_scope() as s:
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    job.delete()  # the dead horse's job is gone from Redis too
    runner.on_work_horse_killed(job, 1234, 9, None)  # what the forking worker calls: horse killed by SIGKILL
    run = run_of(run_id)
    assert run.status is RunStatus.INTERRUPTED and "signal 9" in (run.reason or "")

    new_job_id = submission.resume_run(run_id)
    assert run_of(run_id).status is RunStatus.QUEUED and run_of(run_id).job_id == new_job_id
    work()
    assert run_of(run_id).status is RunStatus.COMPLETED
    with pytest.raises(ValueError, match="only interrupted, failed or cancelled"):
        submission.resume_run(run_id)


def test_submit_without_redis_writes_nothing(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert not connection.redis_available()
    with pytest.raises(connection.QueueError, match="not reachable"):
        submission.submit_run(TINY)
    with db.session_scope() as s:
        assert store.list_runs(s) == []


def test_queue_stats(env: Path) -> None:
    submission.submit_run(TINY)
    stats = queue.queue_stats()
    assert stats["queued"] == 1 and stats["started"] == 0


def test_stop_poller_reads_the_flag_at_most_every_interval(env: Path) -> None:
    from worker.jobs import StopPoller

    run_id = submission.submit_run(TINY)
    poller = StopPoller(run_id, poll_s=0.3)
    connection.get_redis().set(cancellation.cancel_key(run_id), "1")
    assert not any(poller() for _ in range(10_000))  # within the interval: no Redis read, so no stop yet
    time.sleep(0.35)
    assert poller() and poller()  # read once, then remembered


def test_enqueue_refused_keeps_the_run_marked_failed(env: Path) -> None:
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
    run = run_of(run_id)
    assert run.status is RunStatus.FAILED
    assert run.reason is not None and run.reason.startswith("not queued: Redis at") and "WRONGTYPE" in run.reason
