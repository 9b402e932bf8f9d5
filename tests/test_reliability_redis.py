"""Redis lost, down and back, on a private redis-server (so flushing and killing it disturbs no other test):
the database is the truth, `reconcile` rebuilds the queue, and nothing needs a restart. Also: no secret
from REDIS_URL or DATABASE_URL reaches a log or a message.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.cli_support import run_module
from tests.conftest import postgres_database
from tests.env_support import REPO, make_env, product_env
from tests.reliability_support import PrivateRedis, WorkerProcess, run_row, work_in_process
from tests.run_support import tiny
from worker import cancellation, connection, db, queue, reconcile, runner, store, submission
from worker.jobs import StopPoller
from worker.progress import StepWriter
from worker.schema import RunStatus

APP = str(REPO / "dashboard" / "app.py")

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def env(
    tmp_path: Path, cifar_dir: Path, database_url: str, redis_server: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict]:
    with product_env(
        tmp_path, cifar_dir, database_url, monkeypatch, redis_server.url, VGP_RECONCILE_INTERVAL_S="1"
    ) as variables:
        yield variables


def test_flushdb_then_reconcile_queues_the_run_again(env: dict) -> None:
    run_id = submission.submit_run(tiny())
    connection.get_redis().flushdb()  # Redis lost everything
    assert queue.get_queue().count == 0
    report = reconcile.reconcile()
    assert report.requeued == [run_id]
    assert run_row(run_id).job_id in queue.get_queue().job_ids
    work_in_process()
    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED and run.epochs_done == 2


def test_redis_down_then_back_needs_no_restart(env: dict, redis_server: PrivateRedis) -> None:
    run_id = submission.submit_run(tiny())
    client = connection.get_redis()
    assert client.ping()

    redis_server.stop()  # down, and it comes back empty (no persistence)
    assert not connection.redis_available()
    with pytest.raises(connection.QueueError, match="not reachable"):
        submission.submit_run(tiny())
    assert reconcile.reconcile_quietly() is None
    assert run_row(run_id).status is RunStatus.QUEUED  # the database still says queued

    redis_server.start()
    assert connection.get_redis() is client  # the same cached client reconnects by itself
    assert queue.get_queue().count == 0
    assert reconcile.reconcile().requeued == [run_id]
    work_in_process()
    assert run_row(run_id).status is RunStatus.COMPLETED


@pytest.mark.pages
def test_dashboard_recovers_when_redis_comes_back(env: dict, redis_server: PrivateRedis) -> None:
    with db.session_scope() as s:
        run_id = store.create_run(s, tiny()).id
    queue.enqueue_run(run_id)
    redis_server.stop()
    redis_server.start()  # restarted empty: the run's job is gone
    redis_server.stop()

    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    assert any("Redis" in e.value for e in at.error) and at.button(key="submit").disabled

    redis_server.start()
    time.sleep(1.1)  # VGP_RECONCILE_INTERVAL_S: the dashboard reconciles at most this often
    at.run()  # the same app session, nothing restarted
    assert not at.exception, at.exception
    assert not at.error and not at.button(key="submit").disabled
    assert run_row(run_id).job_id in queue.get_queue().job_ids  # the page load queued the lost job again


def test_no_secret_in_logs_or_messages(tmp_path: Path, cifar_dir: Path) -> None:
    redis = PrivateRedis(tmp_path, password="s3cret-redis").start()
    try:
        with postgres_database() as pg_url:
            database_url = pg_url.replace("postgres@", "postgres:s3cret-pg@", 1)  # trust auth ignores it
            assert "s3cret-pg" in database_url
            env = {**os.environ, **make_env(tmp_path, cifar_dir, database_url, redis_url=redis.url),
                   "OMP_NUM_THREADS": "1"}  # fmt: skip
            assert "s3cret-pg" not in db.safe_database_url(database_url)
            assert "s3cret-redis" not in connection.safe_redis_url(redis.url)

            def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
                return run_module("worker", *args, env={**env, **extra}, timeout=120)

            assert cli("migrate").returncode == 0
            submitted = cli("submit", "--preset", "vgg08", "--width", "8", "--epochs", "1", "--subset", "64")
            assert submitted.returncode == 0, submitted.stderr
            worker = WorkerProcess(env, tmp_path / "worker.log", burst=True)
            assert worker.proc.wait(timeout=180) == 0
            worker.stop()
            log = worker.log()
            assert "database postgresql+psycopg://postgres:***@" in log and f"127.0.0.1:{redis.port}/0" in log
            wrong = cli("submit", "--preset", "vgg08", REDIS_URL=redis.url.replace("s3cret", "wrong"))
            assert wrong.returncode == 1 and "not reachable" in wrong.stderr
            shown = cli("show", submitted.stdout.strip(), "--json")
            assert '"status": "completed"' in shown.stdout
            for text in (log, submitted.stdout + submitted.stderr, wrong.stderr, shown.stdout):
                assert "s3cret" not in text and "wrong-redis" not in text
    finally:
        redis.stop()
        db.dispose_engines()


def test_a_hung_redis_freezes_neither_training_nor_cancel(env: dict, redis_server: PrivateRedis) -> None:
    """A stopped (SIGSTOP) redis-server accepts connections but never answers: Cancel of a running run and the
    job's read of it never ask Redis; Cancel of a queued run gives up on taking its job off the queue."""
    queued, running = submission.submit_run(tiny()), submission.submit_run(tiny())
    with db.session_scope() as s:
        store.transition_run(s, running, [RunStatus.QUEUED], RunStatus.RUNNING)
    runner.make_worker()  # RQ raises its own connection's timeout above its dequeue: never the shared client's
    assert connection.get_redis().connection_pool.connection_kwargs["socket_timeout"] == connection.REDIS_TIMEOUT_S
    connection.get_redis().connection_pool.disconnect()  # the next calls connect to the stopped server afresh
    progress = StepWriter(running, every_s=0.0)
    should_stop = StopPoller(running, progress, heartbeat_s=0.0)
    outcomes: dict[str, object] = {}

    def cancel_then_train_on() -> None:
        started = time.monotonic()
        progress(1, 2)
        outcomes["before"] = should_stop()  # training goes on
        outcomes["running"] = cancellation.cancel_run(running)
        progress(2, 2)  # the job's next progress write reads the request
        outcomes["should stop"] = should_stop()
        outcomes["running s"] = time.monotonic() - started
        outcomes["queued"] = cancellation.cancel_run(queued)  # its job stays on the queue; it will skip the run

    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    try:
        thread = threading.Thread(target=cancel_then_train_on, daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(timeout=3 * connection.REDIS_TIMEOUT_S)
        waited = time.monotonic() - started
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    assert not thread.is_alive(), f"still waiting on Redis after {waited:.0f} s"
    assert outcomes["before"] is False
    assert outcomes["running"] is RunStatus.RUNNING and outcomes["should stop"] is True
    assert outcomes["running s"] < connection.REDIS_TIMEOUT_S  # no Redis call waited out its timeout
    assert outcomes["queued"] is RunStatus.CANCELLED
