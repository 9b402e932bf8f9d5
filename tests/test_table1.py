"""`python -m vgp_models table1` on a tiny subset: seven run folders, a crash mid-row resumed, completed rows
skipped, the table printed beside the report's, and a folder of another config refused in one line.

Slow on a busy 2-core machine (seven child processes import torch; each row is probed first), so one test
does it all on one table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vgp_models.config import TABLE1
from vgp_models.run_folder_reader import read_run_folder
from vgp_models.table1 import row_folder_name

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3  # a kill after the first epoch still lands mid-row
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # seven rows in child processes on 2 busy cores


def table1(cifar_dir: Path, out: Path, *extra: str, wait: bool = True):
    args = [sys.executable, "-m", "vgp_models", "table1", "--out", str(out), "--epochs", str(EPOCHS), "--subset", "20",
            "--device", "cpu", "--data", str(cifar_dir), *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not wait:  # its own process group, so that a kill takes the rows' children too, as a crash would
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # fmt: skip
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=2400, check=False)


def record(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def epochs_written(folder: Path) -> int:
    path = folder / "summary.csv"
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def kill_mid_row(proc: subprocess.Popen, folder: Path, timeout_s: float = 600) -> None:
    """SIGKILL the whole command once `folder` has a checkpoint after its first epoch, before its last."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if (folder / "last.pt").exists() and epochs_written(folder) >= 1:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.02)
    raise AssertionError(f"the row in {folder} never got past its first epoch:\n{proc.communicate()[1][-2000:]}")


def test_table1_resumes_a_killed_row_skips_completed_ones_and_prints_the_table(cifar_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "table1"
    vgg08, vgg38 = (out / row_folder_name(TABLE1[i]) for i in (0, 1))
    kill_mid_row(table1(cifar_dir, out, wait=False), vgg38)
    assert record(vgg08)["status"] == "completed"
    crashed = record(vgg38)
    assert crashed["status"] == "running" and epochs_written(vgg38) < EPOCHS  # killed mid-row, not after it
    first_epoch = (vgg38 / "summary.csv").read_text().splitlines()[1]
    refused = table1(cifar_dir, out, "--amp")  # a folder of another config: one line, before any training
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip().splitlines() == [
        f"error: {vgg08 / 'config.json'} holds another config than this table asks for "
        "(other --epochs, --amp, --subset or --device?); use another --out"
    ]

    done = table1(cifar_dir, out)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"row 1/7 VGG08 lr 0.001: completed already, skipped ({vgg08})" in done.stderr
    assert "row 2/7 VGG38 lr 0.001: completed already" not in done.stderr
    resumed = record(vgg38)
    assert resumed["status"] == "completed" and resumed["run_uuid"] == crashed["run_uuid"]
    assert resumed["started_at"] == crashed["started_at"]
    assert (vgg38 / "summary.csv").read_text().splitlines()[1] == first_epoch  # resumed, not started over
    for row in TABLE1:  # every folder complete and strictly readable, each epoch once
        contents = read_run_folder(out / row_folder_name(row))
        assert [e["epoch"] for e in contents.epochs] == list(range(1, EPOCHS + 1))
        assert contents.config.lr == row.lr and contents.config.width == 32 and contents.test is not None

    table = done.stdout.strip().splitlines()
    assert table[0].startswith("| model | LR | epochs (best) |") and len(table) == 2 + 7
    assert table[2].startswith(f"| VGG08 | 0.001 | {EPOCHS} (") and "(1.74, " in table[2]  # the report's train loss
    assert all("not completed" not in line for line in table)

    again = table1(cifar_dir, out)
    assert again.returncode == 0 and again.stdout == done.stdout
    assert again.stderr.count("completed already, skipped") == 7 and "estimated" not in again.stderr
