"""`python -m worker` in subprocesses: migrate, submit, a real forking worker in burst mode, show, export; its many
error cases in this process (`main`), each command line's entry once as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.cli_support import TINY, assert_one_line_error, cli, in_process
from tests.env_support import REPO
from worker import db, schema, store
from worker.__main__ import main

# The command line over store functions, whose SQL the store's own tests run on both databases.
pytestmark = pytest.mark.backends("sqlite")


def test_submit_work_show_export(redis_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli(redis_env, "migrate").returncode == 0
    submitted = cli(redis_env, "submit", *TINY, "--name", "=HYPERLINK()", "--tag", "cli")
    assert submitted.returncode == 0, submitted.stderr
    run_id = int(submitted.stdout.strip())

    worked = cli(redis_env, "worker", "--burst")  # the Procfile's worker: forks a work horse for the job
    assert worked.returncode == 0, worked.stderr

    shown = cli(redis_env, "show", str(run_id), "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["status"] == "completed", data["reason"]
    assert data["epochs_done"] == 2 and data["test_acc"] is not None
    assert data["latest_epoch"]["epoch"] == 2 and isinstance(data["latest_epoch"]["epoch"], int)
    assert data["tags"] == ["cli"] and data["config"]["width"] == 8

    text = in_process(main, capsys, "show", str(run_id))
    assert text.returncode == 0 and "[completed]" in text.stdout

    out = tmp_path / "export"
    exported = in_process(main, capsys, "export", str(run_id), "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    epochs = pd.read_csv(out / "epochs.csv")
    grads = pd.read_csv(out / "gradients.csv")
    assert epochs["epoch"].tolist() == [1, 2]
    assert list(grads.columns) == ["run_id", "epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2",
                                   "weight_norm", "update_ratio"]  # fmt: skip
    assert len(grads) == 2 * grads["layer_index"].nunique()
    assert grads["abs_mean_last"].dtype == float
    assert (grads["update_ratio"] > 0).all()  # the job's training recorded what each weight learned
    signals = pd.read_csv(out / "signals.csv")  # and the forward signal, every epoch
    assert signals["epoch"].tolist() == [1] * (len(signals) // 2) + [2] * (len(signals) // 2)
    assert signals["layer"].iloc[0] == "input_conv_conv_0" and (signals["std"] > 0).all()
    assert json.loads((out / "run.json").read_text())["name"] == "=HYPERLINK()"

    listed = in_process(main, capsys, "list")
    assert listed.returncode == 0 and "completed" in listed.stdout


def test_bad_input_is_one_line_and_exit_2(redis_env: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    assert_one_line_error(cli(redis_env, "submit", "--depth", "9"), 2, "depth must be 8 + 6N")  # as a process, once

    def worker_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return in_process(main, capsys, *args)

    assert worker_cli("migrate").returncode == 0
    assert_one_line_error(worker_cli("submit", "--lr", "abc"), 2, "--lr")
    assert_one_line_error(worker_cli("show", "424242"), 2, "no run with id 424242")
    assert_one_line_error(worker_cli("export", "424242", "--out", "x"), 2, "no run with id 424242")
    assert_one_line_error(worker_cli("nonsense"), 2, "invalid choice")
    for huge in (str(10**30), str(2**63), str(2**31), "0"):  # issue 17.15: an OverflowError traceback
        assert_one_line_error(worker_cli("show", huge), 2, "a run id is a whole number from 1 to 2147483647")


def test_unreachable_services_are_one_line(
    redis_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    no_redis = {**redis_env, "REDIS_URL": "redis://127.0.0.1:1/0"}
    assert cli(no_redis, "migrate").returncode == 0
    assert_one_line_error(cli(no_redis, "submit", *TINY), 1, "not reachable")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert_one_line_error(in_process(main, capsys, "show", "1"), 1, "python -m worker migrate")


def test_worker_parent_never_imports_torch() -> None:
    modules = "worker, worker.db, worker.frames, worker.queue, worker.runner, worker.store, worker.__main__"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_killed_work_horse_leaves_the_run_interrupted(redis_env: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    """A real forking worker whose training process is SIGKILLed (as by the OOM killer): the run is interrupted."""
    assert in_process(main, capsys, "migrate").returncode == 0
    long_run = ["--preset", "vgg08", "--width", "8", "--epochs", "1000", "--subset", "64", "--batch-size", "32"]
    run_id = int(in_process(main, capsys, "submit", *long_run).stdout)
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--burst"],
        cwd=REPO,
        env={**redis_env, "VGP_AUTO_RESUMES": "0"},  # its sweep thread must not queue the run again before we look
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.session_scope(redis_env["DATABASE_URL"]) as s:
                run = store.require_run(s, run_id)
            if run.epochs_done >= 1:
                break
            time.sleep(0.2)
        assert run.status is schema.RunStatus.RUNNING, run.reason
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert len(children) == 1  # the work horse
        os.kill(int(children[0]), signal.SIGKILL)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    data = json.loads(in_process(main, capsys, "show", str(run_id), "--json").stdout)
    assert data["status"] == "interrupted" and "signal 9" in data["reason"]
    assert in_process(main, capsys, "resume", str(run_id)).returncode == 0
    assert in_process(main, capsys, "cancel", str(run_id)).returncode == 0
    assert json.loads(in_process(main, capsys, "show", str(run_id), "--json").stdout)["status"] == "cancelled"
