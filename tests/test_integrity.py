"""Issue 10's integrity guarantees, end to end on the real store and Redis: a run never continues another's
checkpoint, resume never drops a pending cancel, and the Runs page says "cancelling" until a run has stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from dashboard.display import plain
from tests.cli_support import run_module
from tests.env_support import REPO, make_env, product_env
from tests.reliability_support import WorkerProcess, epochs_of, run_row, wait_for
from tests.run_support import tiny
from vgp_models.config import ConfigError, RunConfig
from worker import cancellation, db, queue, store, submission
from worker.jobs import train_run
from worker.schema import Run, RunStatus
from worker.settings import Settings, check_environment


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """The shared `env` with checkpoints in files (VGP_CHECKPOINT_STORE=files): these tests are about a run's
    checkpoint folder."""
    with product_env(tmp_path, cifar_dir, database_url, monkeypatch, VGP_CHECKPOINT_STORE="files") as variables:
        yield variables


def new_run(epochs: int = 2) -> int:
    with db.session_scope() as s:
        return store.create_run(s, tiny(epochs=epochs)).id


def test_ids_are_never_reused_after_a_delete(env: dict) -> None:
    first, last = new_run(), new_run()
    with db.session_scope() as s:
        store.set_status(s, last, RunStatus.COMPLETED)
        store.delete_run(s, last)
    assert new_run() == last + 1 > first


def test_a_new_run_in_a_database_made_anew_trains_from_scratch(
    tmp_path: Path, cifar_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """var/vgp.db removed and migrated again while var/checkpoints/ stays: the new run 1 is not the old run 1."""
    url = f"sqlite:///{tmp_path / 'vgp.db'}"
    for key, value in make_env(tmp_path, cifar_dir, url, VGP_CHECKPOINT_STORE="files").items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(url)
    old = new_run()
    assert train_run(old) == "completed"
    db.dispose_engines()
    for path in tmp_path.glob("vgp.db*"):
        path.unlink()
    db.upgrade_database(url)
    try:
        run_id = new_run()
        assert run_id == old  # the same id, the same config: only the uuid tells the runs apart
        assert train_run(run_id) == "completed"
        assert epochs_of(run_id)["epoch"].tolist() == [1, 2]  # trained, not "completed at once" with old results
        assert len(list((tmp_path / "checkpoints").iterdir())) == 2
    finally:
        db.dispose_engines()


def test_a_foreign_checkpoint_in_a_runs_folder_fails_it_in_one_line(env: dict) -> None:
    donor, run_id = new_run(), new_run()
    assert train_run(donor) == "completed"
    with db.session_scope() as s:
        source = store.checkpoint_dir(store.require_run(s, donor).uuid)
        target = store.checkpoint_dir(store.require_run(s, run_id).uuid)
    target.mkdir(parents=True)
    shutil.copy(source / "best.pt", target / "last.pt")  # e.g. a file restored from the wrong backup
    assert train_run(run_id) == "failed"
    run = run_row(run_id)
    assert run.reason.startswith("CheckpointMismatch: ") and "\n" not in run.reason
    assert "belongs to another run" in run.reason and run.epochs_done == 0
    assert torch.load(target / "last.pt", weights_only=True)["run_uuid"] == run_row(donor).uuid  # left alone


def test_resume_refuses_a_running_run_and_keeps_its_pending_cancel(env: dict) -> None:
    """Cancel, then Resume, on a run whose job is still loading data: the cancel must still stop it."""
    run_id = new_run()
    with db.session_scope() as s:
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    assert cancellation.cancel_run(run_id) is RunStatus.RUNNING
    with pytest.raises(ValueError, match="is running"):
        submission.resume_run(run_id)
    assert cancellation.cancel_requested(run_id)
    assert run_row(run_id).status is RunStatus.RUNNING


def test_resume_clears_a_stopped_runs_leftover_cancel(env: dict) -> None:
    run_id = new_run()
    with db.session_scope() as s:
        store.transition_run(s, run_id, [RunStatus.QUEUED], RunStatus.RUNNING)
    cancellation.cancel_run(run_id)
    with db.session_scope() as s:  # its worker died before the job saw the request; reconcile wrote it off
        store.transition_run(s, run_id, [RunStatus.RUNNING], RunStatus.INTERRUPTED)
    try:
        submission.resume_run(run_id)
        assert not cancellation.cancel_requested(run_id) and run_row(run_id).status is RunStatus.QUEUED
    finally:
        queue.get_queue().delete(delete_jobs=True)


# ---- a memory budget at submit; a run killed twice the same way is not resumed again ----------------------


def all_run_ids() -> list[int]:
    with db.session_scope() as s:
        return [run.id for run in store.list_runs(s)]


@pytest.mark.parametrize(
    "config",
    [RunConfig(depth=500, width=1024, batch_size=1), RunConfig(depth=38, batch_size=50_000)],
    ids=["4.7e9 parameters", "batch 50,000"],
)
def test_a_run_over_the_memory_budget_is_refused_at_submit_in_one_line(env: dict, config: RunConfig) -> None:
    with pytest.raises(ConfigError, match="over this installation's budget .* \\(VGP_MAX_PARAMS_X_BATCH\\)") as e:
        submission.submit_run(config)
    assert "\n" not in str(e.value)
    assert all_run_ids() == []  # nothing written


def test_the_budget_is_a_setting(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    submission.check_budget(RunConfig.from_preset("vgg38-bn-rc-w64", batch_size=1000), Settings.from_env())
    monkeypatch.setenv("VGP_MAX_PARAMS_X_BATCH", "1e5")
    with pytest.raises(ConfigError, match="VGP_MAX_PARAMS_X_BATCH"):
        submission.submit_run(tiny())  # 4,636 parameters x batch 32 = 1.5e5
    assert all_run_ids() == []


@pytest.mark.slow
def test_a_run_killed_the_same_way_after_an_automatic_resume_is_not_resumed_again(
    fast_env: dict, tmp_path: Path
) -> None:
    """As the kernel's OOM killer would: the training process is SIGKILLed, and again after its resume."""
    run_id = submission.submit_run(tiny(epochs=10_000))
    worker = WorkerProcess(fast_env, tmp_path / "worker.log", VGP_AUTO_RESUMES="3")
    try:
        for attempt in (1, 2):
            horse = wait_for(lambda: run_row(run_id).epochs_done >= 1 and worker.horses(), 120,
                             what=f"attempt {attempt} to train")  # fmt: skip
            os.kill(horse[0], signal.SIGKILL)
            if attempt == 1:
                wait_for(lambda: run_row(run_id).auto_resumes == 1 and run_row(run_id).status is RunStatus.RUNNING,
                         60, what="the automatic resume")  # fmt: skip
                with db.session_scope() as s:  # so that the next wait sees the resumed attempt's epochs
                    s.execute(update(Run).where(Run.id == run_id).values(epochs_done=0))
        wait_for(lambda: run_row(run_id).status.finished, 60, what="the second death to be recorded")
        time.sleep(3)  # three more reconcile passes: none may resume it
    finally:
        log = worker.log()
        worker.stop()
    run = run_row(run_id)
    assert run.status is RunStatus.FAILED, (run.status, run.reason, log[-2000:])
    assert run.auto_resumes == 1
    assert "(signal 9)" in run.reason and "again after an automatic resume" in run.reason


# ---- every setting checked at start ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value, says",
    [
        ("VGP_EPOCH_TIMEOUT_S", "1h", "VGP_EPOCH_TIMEOUT_S must be a whole number, got '1h'"),
        ("VGP_AUTO_RESUMES", "1.5", "VGP_AUTO_RESUMES must be a whole number"),
        ("VGP_HEARTBEAT_S", "nan", "VGP_HEARTBEAT_S must be a finite number"),
        ("VGP_CANCEL_GRACE_S", "-1", "VGP_CANCEL_GRACE_S must be from 0 to 3600, got -1"),
        ("VGP_RECONCILE_INTERVAL_S", "0", "VGP_RECONCILE_INTERVAL_S must be from 0.5 to 86400, got 0"),
        # issue 17.13: every setting has a type and a sane range, checked at start (an interval of 1e-9 s spun a core)
        ("VGP_RECONCILE_INTERVAL_S", "1e-9", "VGP_RECONCILE_INTERVAL_S must be from 0.5 to 86400, got 1e-09"),
        ("VGP_EPOCH_TIMEOUT_S", "1e20", "VGP_EPOCH_TIMEOUT_S must be a whole number, got '1e20'"),
        ("VGP_EPOCH_TIMEOUT_S", str(10**20), "VGP_EPOCH_TIMEOUT_S must be from 1 to 604800, got 1e+20"),  # overflowed
        ("VGP_EPOCH_TIMEOUT_S", "0", "VGP_EPOCH_TIMEOUT_S must be from 1 to 604800, got 0"),
        ("VGP_HEARTBEAT_S", "1e6", "VGP_HEARTBEAT_S must be from 0.1 to 3600, got 1e+06"),
        ("VGP_STALE_AFTER_S", "1e9", "VGP_STALE_AFTER_S must be from 0.2 to 86400"),
        ("VGP_AUTO_RESUMES", "1000000", "VGP_AUTO_RESUMES must be from 0 to 100"),
        ("VGP_OUTAGE_S", "inf", "VGP_OUTAGE_S must be a finite number"),
        ("VGP_MAX_PARAMS_X_BATCH", "1e300", "VGP_MAX_PARAMS_X_BATCH must be from 1 to 1e+15"),
        ("VGP_MAX_ACTIVATION_GB", "0", "VGP_MAX_ACTIVATION_GB must be from 0.01 to 100000"),
        ("VGP_IMPORT_MAX_MB", "abc", "VGP_IMPORT_MAX_MB must be a number, got 'abc'"),  # a traceback on Runs
        ("VGP_IMPORT_MAX_MB", "0", "VGP_IMPORT_MAX_MB must be from 1 to 2048, got 0"),
        ("VGP_IMPORT_MAX_MB", "1e9", "VGP_IMPORT_MAX_MB must be from 1 to 2048"),
        ("VGP_WEB_PORT", "http", "VGP_WEB_PORT must be a whole number, got 'http'"),
        ("VGP_WEB_PORT", "70000", "VGP_WEB_PORT must be from 1 to 65535, got 70000"),
        ("VGP_WORKERS", "0", "VGP_WORKERS must be from 1 to 64, got 0"),
        ("VGP_WORKERS", "two", "VGP_WORKERS must be a whole number"),
        ("VGP_QUEUE", "a:b", "VGP_QUEUE must be 1 to 64 letters, digits, '.', '_' or '-', got 'a:b'"),
        ("VGP_QUEUE", "q" * 65, "VGP_QUEUE must be 1 to 64 letters"),
        ("VGP_QUEUE", "vgp queue", "VGP_QUEUE must be 1 to 64 letters"),
        ("VGP_ALLOWED_HOSTS", "vgp.example,$(reboot)", "VGP_ALLOWED_HOSTS must list host names"),
        ("VGP_MAX_PARAMS_X_BATCH", "lots", "VGP_MAX_PARAMS_X_BATCH must be a number"),
        ("VGP_DOWNLOAD", "yes", "VGP_DOWNLOAD must be 0 or 1"),
        ("REDIS_URL", "http://127.0.0.1:6379/0", "REDIS_URL is not a Redis URL"),
        ("REDIS_URL", "redis://:secret@127.0.0.1:6379/zero", "REDIS_URL must end in a database number"),
        ("DATABASE_URL", "postgresql+psycopg://u:secret@host:port/db", "DATABASE_URL is not a database URL"),
        ("VGP_CHECKPOINT_STORE", "nfs", "VGP_CHECKPOINT_STORE must be one of db, files; got 'nfs'"),
        ("VGP_KEEP_CHECKPOINTS", "all", "VGP_KEEP_CHECKPOINTS must be one of best, none; got 'all'"),
    ],
)
def test_every_setting_fails_in_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as e:
        check_environment()
    assert str(e.value).startswith(says) and "\n" not in str(e.value) and "secret" not in str(e.value)


def test_a_bad_setting_stops_submit_before_the_run_row_is_written(env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VGP_EPOCH_TIMEOUT_S", "1h")
    with pytest.raises(ValueError, match="VGP_EPOCH_TIMEOUT_S"):
        submission.submit_run(tiny())
    assert all_run_ids() == []


def test_the_worker_and_the_dashboard_refuse_to_start_on_a_bad_setting(
    env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VGP_HEARTBEAT_S", "soon")
    for command in (["worker", "--burst"], ["list"]):
        done = run_module("worker", *command, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == "python -m worker: error: VGP_HEARTBEAT_S must be a number, got 'soon'"
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [e.value for e in at.error] == [plain("VGP Lab cannot start: VGP_HEARTBEAT_S must be a number, got 'soon'")]


@pytest.mark.parametrize(("name", "value"), [("VGP_WEB_PORT", "70000"), ("VGP_RECONCILE_INTERVAL_S", "1e-9")])
def test_the_procfile_web_line_stops_on_a_bad_setting_before_streamlit(tmp_path: Path, name: str, value: str) -> None:
    """The web line checks every setting first (`python -m worker.settings`): one line, nothing started."""
    (line,) = [x for x in (REPO / "Procfile").read_text().splitlines() if x.startswith("web:")]
    env = {**os.environ, name: value, "DATABASE_URL": f"sqlite:///{tmp_path / 'vgp.db'}"}
    done = subprocess.run(["sh", "-c", line.removeprefix("web:")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"VGP Lab: {name} must be from ") and done.stderr.count("\n") == 1
