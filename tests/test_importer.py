"""`python -m worker import`: a tiny headless run's folder into the database and back, course-framework folders,
every malformed-folder case (one line naming file and line, nothing written), and safe zip extraction."""

from __future__ import annotations

import csv
import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli_support import run_module
from vgp_models.config import RunConfig
from vgp_models.run_folder import RunFolderError
from vgp_models.run_folder_reader import read_run_folder
from worker import db, frames, schema

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_folder(trained_run_folder: Path, tmp_path: Path) -> Path:
    """A copy of `trained_run_folder` that a test may break."""
    return Path(shutil.copytree(trained_run_folder, tmp_path / trained_run_folder.name))


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("worker", "import", *args)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[list[object]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def count_runs() -> int:
    with db.session_scope() as session:
        return len(frames.runs_frame(session))


def test_round_trip_holds_exactly_the_folder(store_url: str, run_folder: Path) -> None:
    first = cli(run_folder)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{run_folder}: imported as run #1"
    again = cli(run_folder)
    assert again.returncode == 0 and again.stdout.strip() == f"{run_folder}: already imported as run #1; nothing added"

    record = json.loads((run_folder / "config.json").read_text())
    with db.session_scope() as session:
        runs = frames.runs_frame(session, extra=("config",))
        run = session.get(schema.Run, 1)
        uuid, sha = run.uuid, run.git_sha
        epochs = frames.epochs_frame(session, [1])
        grads = frames.gradients_frame(session, [1])
    assert len(runs) == 1
    row = runs.iloc[0]
    assert uuid == record["run_uuid"] and sha == record["git_commit"]
    assert row["config"] == record["config"] and row["status"] == "completed"
    assert (row["params"], row["device"], row["best_epoch"]) == (record["params"], "cpu", record["best_epoch"])
    assert row["started_at"].isoformat() == record["started_at"]
    assert row["finished_at"].isoformat() == record["finished_at"]
    test = read_csv(run_folder / "test_summary.csv")[0]
    assert (row["test_acc"], row["test_loss"]) == (float(test["test_acc"]), float(test["test_loss"]))

    summary, times = read_csv(run_folder / "summary.csv"), read_csv(run_folder / "epochs.csv")
    assert epochs["epoch"].tolist() == [1, 2]
    for column in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert epochs[column].tolist() == [float(r[column]) for r in summary]
    assert epochs["lr"].tolist() == [float(r["lr"]) for r in times]
    assert epochs["seconds"].tolist() == [float(r["seconds"]) for r in times]
    folder_grads = read_csv(run_folder / "gradients.csv")
    assert len(grads) == len(folder_grads) == 2 * 9
    for (_, got), want in zip(grads.iterrows(), folder_grads):
        assert (int(got["epoch"]), int(got["layer_index"]), got["layer"]) == (
            int(want["epoch"]), int(want["layer_index"]), want["layer"])  # fmt: skip
        assert [got[c] for c in ("abs_mean_last", "abs_mean_epoch", "l2")] == [
            float(want[c]) for c in ("abs_mean_last", "abs_mean_epoch", "l2")]  # fmt: skip


def test_course_framework_folder_needs_preset_and_lr(store_url: str, run_folder: Path, tmp_path: Path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    for name in ("summary.csv", "test_summary.csv"):
        shutil.copy(run_folder / name, course / name)
    refused = cli(course)
    assert refused.returncode == 2 and refused.stderr.strip().endswith(
        f"{course}: no config.json; a course-framework folder needs --preset and --lr"
    )
    assert count_runs() == 0
    for expected in (
        "imported as run #1 (no gradient data: the course framework writes none)",
        "already imported as run #1; nothing added",
    ):
        done = cli(course, "--preset", "vgg38-bn", "--lr", "1e-2", "--group", "course")
        assert done.returncode == 0 and done.stdout.strip() == f"{course}: {expected}", done.stderr
    with db.session_scope() as session:
        run = session.get(schema.Run, 1)
        n_grads = len(frames.gradients_frame(session, [1]))
        epochs = frames.epochs_frame(session, [1])
        assert RunConfig.from_dict(run.config) == RunConfig.from_preset("vgg38-bn", lr=1e-2, epochs=2)
        assert (run.group_name, run.epochs_done, run.status.value) == ("course", 2, "completed")
        assert run.params == 338_500 and run.test_acc == float(read_csv(course / "test_summary.csv")[0]["test_acc"])
    assert n_grads == 0 and epochs["lr"].isna().all()


def break_summary_columns(folder: Path) -> str:
    write_csv(folder / "summary.csv", [["train_acc", "train_loss", "val_acc"], [0.1, 4.0, 0.1]])
    return (
        "summary.csv line 1: columns train_acc,train_loss,val_acc,val_loss expected, got train_acc,train_loss,val_acc"
    )


def nan_in_summary(folder: Path) -> str:
    rows = list(csv.reader(open(folder / "summary.csv", newline="")))
    rows[2][3] = "nan"
    write_csv(folder / "summary.csv", rows)
    return "summary.csv line 3: val_loss is 'nan', not a finite number >= 0"


def accuracy_in_percent(folder: Path) -> str:
    rows = list(csv.reader(open(folder / "summary.csv", newline="")))
    rows[1][0] = "45.2"
    write_csv(folder / "summary.csv", rows)
    return "summary.csv line 2: train_acc is '45.2', not a finite number in 0..1"


def gradients_row_missing(folder: Path) -> str:
    rows = list(csv.reader(open(folder / "gradients.csv", newline="")))
    labels = [r[2] for r in rows[1:10]]
    del rows[12]  # line 13: epoch 2, layer 2
    write_csv(folder / "gradients.csv", rows)
    return f"gradients.csv line 13: epoch 2 layer 3 ({labels[3]!r}), expected epoch 2 layer 2 ({labels[2]!r})"


def gradients_ragged_row(folder: Path) -> str:
    rows = list(csv.reader(open(folder / "gradients.csv", newline="")))
    rows[5].append("0.5")
    write_csv(folder / "gradients.csv", rows)
    return f"gradients.csv line 6: {len(rows[5])} fields, {len(rows[0])} expected"


def gradients_short(folder: Path) -> str:
    rows = list(csv.reader(open(folder / "gradients.csv", newline="")))
    write_csv(folder / "gradients.csv", rows[:-1])
    return "gradients.csv: 17 rows, 2 epochs of 9 layers expected (summary.csv has 2 epochs)"


def epochs_short(folder: Path) -> str:
    rows = list(csv.reader(open(folder / "epochs.csv", newline="")))
    write_csv(folder / "epochs.csv", rows[:-1])
    return "epochs.csv: 1 epochs, but summary.csv has 2"


def still_running(folder: Path) -> str:
    record = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**record, "status": "running"}))
    return "config.json: status 'running'; only a finished run (completed, diverged, cancelled) imports"


def bad_config(folder: Path) -> str:
    record = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**record, "config": {**record["config"], "depth": 9}}))
    return "config.json: depth must be 8 + 6N"


def missing(name: str):
    def breaker(folder: Path) -> str:
        (folder / name).unlink()
        return f"{name}: missing"

    breaker.__name__ = f"missing_{name}"
    return breaker


BREAKERS = [
    missing("summary.csv"), missing("gradients.csv"), missing("test_summary.csv"), missing("epochs.csv"),
    break_summary_columns, nan_in_summary, accuracy_in_percent, gradients_row_missing, gradients_ragged_row,
    gradients_short, epochs_short, still_running, bad_config,
]  # fmt: skip


@pytest.mark.parametrize("breaker", BREAKERS, ids=lambda b: b.__name__)
def test_malformed_folder_is_one_line_naming_file_and_line(run_folder: Path, breaker) -> None:
    expected = breaker(run_folder)
    with pytest.raises(RunFolderError) as caught:
        read_run_folder(run_folder)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(run_folder / expected.split(":")[0].split(" ")[0]))
    assert expected in message


def test_a_malformed_folder_writes_nothing_not_even_the_good_ones(
    store_url: str, trained_run_folder: Path, tmp_path: Path
):
    good = Path(shutil.copytree(trained_run_folder, tmp_path / "a-good"))
    bad = Path(shutil.copytree(trained_run_folder, tmp_path / "b-bad"))
    expected = nan_in_summary(bad)
    done = cli(tmp_path)  # a folder of run folders: both, in order
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [f"python -m worker: error: {bad}/{expected}"]
    assert count_runs() == 0
    assert cli(good).returncode == 0 and count_runs() == 1


def test_finite_checks_cover_infinity(run_folder: Path) -> None:
    rows = list(csv.reader(open(run_folder / "gradients.csv", newline="")))
    rows[3][5] = str(math.inf)
    write_csv(run_folder / "gradients.csv", rows)
    with pytest.raises(RunFolderError, match=r"gradients.csv line 4: l2 is 'inf', not a finite number"):
        read_run_folder(run_folder)
