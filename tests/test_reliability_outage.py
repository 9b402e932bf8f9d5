"""Outages cost nothing: a Postgres of the test's own stopped for 30 s mid-run, and a redis-server of its own that
hangs (SIGSTOP). The job keeps the epoch in memory and retries (worker.outage); the run completes with every
epoch once, exactly as an uninterrupted run, without failing or spending an automatic resume; the dashboard
shows a banner meanwhile, not a traceback. Real worker processes, FAST timings, tiny runs on one thread.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import display
from tests.env_support import REDIS_URL, REPO, drop_queue, free_port, make_env
from tests.reliability_support import (
    FAST,
    PrivatePostgres,
    PrivateRedis,
    WorkerProcess,
    epochs_of,
    run_row,
    train_on_one_thread,
    wait_for,
)
from tests.run_support import tiny
from worker import connection, db, rq_jobs, submission
from worker.schema import RunStatus
from worker.store import RunMeta

OUTAGE_S = 30
EPOCHS = 40  # ~30 ms each: the run is mid-way when the outage starts
CONFIG = tiny(EPOCHS, seed=5)
METRICS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]
APP = str(REPO / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def baseline(cifar_dir: Path) -> list[list[float]]:
    seen, result = train_on_one_thread(CONFIG, cifar_dir)
    assert result.status == "completed"
    return [[getattr(m, c) for c in METRICS] for m in seen]


def outage_env(tmp_path: Path, cifar_dir: Path, database_url: str, redis_url: str, monkeypatch) -> dict:
    variables = {**make_env(tmp_path, cifar_dir, database_url, redis_url), **FAST, "OMP_NUM_THREADS": "1",
                 "VGP_OUTAGE_S": "120"}  # fmt: skip
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(database_url)
    return variables


def assert_cost_nothing(run_id: int, log: str, baseline: list[list[float]]) -> None:
    run = run_row(run_id)
    assert run.status is RunStatus.COMPLETED, run.reason
    assert run.auto_resumes == 0  # never interrupted, nothing spent
    frame = epochs_of(run_id)
    assert frame[METRICS].values.tolist() == baseline  # every epoch once, nothing lost, same numbers
    assert "Traceback" not in log and f"run {run_id} started on" in log and log.count("started on") == 1


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().start()
    yield server
    db.dispose_engines()
    server.remove()


@pytest.mark.slow
def test_a_30_s_database_outage_costs_nothing(
    postgres: PrivatePostgres, tmp_path: Path, cifar_dir: Path, baseline: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    env = outage_env(tmp_path, cifar_dir, postgres.url, REDIS_URL, monkeypatch)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.name()
        run_id = submission.submit_run(CONFIG, RunMeta(name="outage"))
        wait_for(lambda: run_row(run_id).epochs_done >= 2, 240, 0.02, "two epochs")
        postgres.stop()
        stopped_at = time.monotonic()
        at = AppTest.from_file(APP, default_timeout=30).run()  # the dashboard meanwhile
        assert not at.exception, at.exception
        assert any("The database" in w.value and "not answering" in w.value for w in at.warning)
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        postgres.start()
        wait_for(lambda: run_row(run_id).status.finished, 120, 0.2, "the run to finish")
        log = worker.log()
    finally:
        worker.stop()
        drop_queue(env["VGP_QUEUE"])
    assert f"run {run_id}: writing epoch" in log and "retrying in" in log  # it waited the outage out
    assert_cost_nothing(run_id, log, baseline)


@pytest.mark.backends("sqlite")  # Redis hangs, not the database
def test_a_hung_redis_costs_nothing(
    tmp_path: Path, cifar_dir: Path, database_url: str, baseline: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = PrivateRedis(tmp_path).start()
    env = outage_env(tmp_path, cifar_dir, database_url, redis.url, monkeypatch)
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        worker.name()
        run_id = submission.submit_run(CONFIG, RunMeta(name="hung redis"))
        wait_for(lambda: run_row(run_id).epochs_done >= 2, 240, 0.02, "two epochs")
        os.kill(redis.proc.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:  # training goes on meanwhile: the job never asks Redis (Cancel is read from the database)
            wait_for(lambda: run_row(run_id).status.finished, 60, 0.2, "the run to finish while Redis hangs")
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        job_id = run_row(run_id).job_id
        wait_for(lambda: rq_jobs.fetch_job(job_id).get_status() == "finished", 60, 0.2, "RQ to record the job")
        assert worker.proc.poll() is None  # the worker outlived the hang
        log = worker.log()
    finally:
        worker.stop()
        redis.stop()
    assert_cost_nothing(run_id, log, baseline)


def test_the_dashboard_shows_a_banner_when_the_database_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/vgp")  # nobody there
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    try:
        at = AppTest.from_file(APP, default_timeout=30).run()
        assert not at.exception, at.exception
        (banner,) = [w.value for w in at.warning if "The database" in w.value]
        shown = (
            display.plain("postgresql+psycopg://postgres"),
            display.plain("127.0.0.1"),
            display.plain("not answering"),
        )
        assert all(text in banner for text in shown)  # the URL, as plain text (display.plain)
        for page in ("views/runs.py", "views/run.py", "views/compare.py", "views/results.py"):
            at.switch_page(page).run()
            assert not at.exception, (page, at.exception)
            assert any("The database" in w.value for w in at.warning)
    finally:
        db.dispose_engines()
