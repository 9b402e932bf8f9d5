"""Course-framework folders as real ones are: written on Windows (`\\r\\r\\n`), stopped before the test, continued
with --continue_from_epoch, stepped per iteration; what the name of a folder suggests it ran."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.course_support import course_folder, row
from vgp_models.config import RunConfig
from vgp_models.course_folder import CourseOptions, suggest
from vgp_models.run_folder import RunFolderError
from vgp_models.run_folder_reader import read_run_folder
from worker import db, frames, importer, schema

ROOT = Path(__file__).resolve().parents[1]
VGG38_BN = CourseOptions("vgg38-bn", 1e-2)


def numbers(contents) -> list[tuple]:
    return [(e["epoch"], e["train_acc"], e["train_loss"], e["val_acc"], e["val_loss"]) for e in contents.epochs]


def test_windows_line_ends_import_as_their_twin(tmp_path: Path) -> None:
    rows = [row(e) for e in range(1, 4)]
    windows = read_run_folder(course_folder(tmp_path / "win", rows, line_end="\r\r\n"), VGG38_BN)
    unix = read_run_folder(course_folder(tmp_path / "unix", rows), VGG38_BN)
    assert numbers(windows) == numbers(unix) and len(windows.epochs) == 3
    assert (windows.test, windows.config, windows.record["status"]) == (unix.test, unix.config, "completed")


def test_a_run_stopped_before_its_test_imports_as_interrupted(store_url: str, tmp_path: Path) -> None:
    stopped = course_folder(tmp_path / "VGG_38_BN_experiment", [row(e) for e in range(1, 36)], test=False)
    report = importer.import_folders([stopped], VGG38_BN)
    assert report.lines() == [
        f"{stopped}: imported as run #1 (interrupted: no test_summary.csv, 35 of 100 epochs, no test result; "
        "no gradient data: the course framework writes none)"
    ]
    with db.session_scope() as session:
        run = session.get(schema.Run, 1)
        assert (run.status.value, run.epochs_done, run.epochs_total, run.test_acc) == ("interrupted", 35, 100, None)
        assert run.origin is schema.RunOrigin.IMPORTED and "stopped before its test" in run.reason
        assert len(frames.epochs_frame(session, [1])) == 35


def test_a_continued_run_keeps_the_last_row_of_each_epoch(tmp_path: Path) -> None:
    """100 epochs, then --continue_from_epoch 76: 125 rows, epochs 76..100 twice; the later ones count."""
    rows = [row(e) for e in range(1, 101)] + [row(e, segment=1) for e in range(76, 101)]
    folder = course_folder(tmp_path / "continued", rows)
    contents = read_run_folder(folder, CourseOptions("vgg38-bn", 1e-2, epochs=100, continued_from=(76,)))
    assert [e["epoch"] for e in contents.epochs] == list(range(1, 101)) and contents.config.epochs == 100
    assert [e["val_acc"] for e in contents.epochs] == [r[2] for r in rows[:75] + rows[100:]]
    assert contents.record["status"] == "completed"


def test_two_continuations_after_a_crash(tmp_path: Path) -> None:
    """Stopped at 35, continued from 30 to the end, then again from 90: 35 + 71 + 11 = 117 rows."""
    rows = [row(e) for e in range(1, 36)] + [row(e, 1) for e in range(30, 101)] + [row(e, 2) for e in range(90, 101)]
    options = CourseOptions("vgg38-bn", 1e-2, epochs=100, continued_from=(30, 90))
    contents = read_run_folder(course_folder(tmp_path / "twice", rows), options)
    expected = rows[:29] + rows[35:95] + rows[106:]
    assert [e["val_acc"] for e in contents.epochs] == [r[2] for r in expected] and len(contents.epochs) == 100


@pytest.mark.parametrize(
    "rows,options,expected",
    [
        (165, CourseOptions("vgg38-bn", 1e-2), "165 rows, more than the framework's 100 epochs: pass --epochs N"),
        (165, CourseOptions("vgg38-bn", 1e-2, epochs=100),
         "165 rows, more than its 100 epochs: a continued run? pass --continued-from K"),
        (90, CourseOptions("vgg38-bn", 1e-2, epochs=100, continued_from=(36,)),
         "90 rows cannot be 100 epochs continued from 36 (100 to 165 rows would); pass the --epochs and every "
         "--continued-from K"),
        (50, CourseOptions("vgg38-bn", 1e-2, epochs=100), "50 rows of 100 epochs, yet test_summary.csv"),
    ],
)  # fmt: skip
def test_rows_that_cannot_be_the_claimed_epochs_are_refused(tmp_path: Path, rows, options, expected) -> None:
    folder = course_folder(tmp_path / "run", [row(e) for e in range(1, rows + 1)])
    with pytest.raises(RunFolderError) as caught:
        read_run_folder(folder, options)
    assert str(caught.value).startswith(f"{folder}/summary.csv: ") and expected in str(caught.value)


@pytest.mark.backends("sqlite")  # the command line's options
def test_the_cli_takes_epochs_continuations_and_the_schedule(store_url: str, tmp_path: Path) -> None:
    folder = course_folder(tmp_path / "run", [row(e) for e in range(1, 101)] + [row(e, 1) for e in range(36, 101)])
    base = [sys.executable, "-m", "worker", "import", str(folder), "--preset", "vgg38-bn-rc", "--lr", "1e-2"]
    run = lambda *extra: subprocess.run([*base, *extra], cwd=ROOT, env=dict(os.environ), capture_output=True,  # noqa: E731
                                        text=True, timeout=120)  # fmt: skip
    refused = run()
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1 and "pass --epochs N" in refused.stderr
    done = run("--epochs", "100", "--continued-from", "36", "--schedule", "iteration")
    assert done.returncode == 0, done.stderr
    with db.session_scope() as session:
        run_row = session.get(schema.Run, 1)
        assert RunConfig.from_dict(run_row.config) == RunConfig.from_preset(
            "vgg38-bn-rc", lr=1e-2, epochs=100, schedule="iteration")  # fmt: skip
        assert (run_row.epochs_done, run_row.status.value) == (100, "completed")
    bad = run("--continued-from", "36")
    assert bad.returncode == 2 and bad.stderr.strip().endswith("--continued-from needs --epochs, the epochs the run "
                                                               "was given")  # fmt: skip


@pytest.mark.parametrize(
    "name,expected",
    [
        ("VGG_38_BN_RC_experiment", ("vgg38-bn-rc", None)),
        ("VGG_08_experiment", ("vgg08", None)),
        ("vgg38_bn_lr_1e-2", ("vgg38-bn", 0.01)),
        ("VGG38-RC-lr0.001", ("vgg38-rc", 0.001)),
        ("vgg_38_bn_lr_0p01_run2", ("vgg38-bn", 0.01)),
        ("VGG_50_experiment", (None, None)),  # no such preset
        ("experiment_1", (None, None)),
        ("vgg08_lr_1e-9", ("vgg08", None)),  # below the form's floor: not a suggestion
    ],
)
def test_a_folder_name_suggests_its_preset_and_lr(name: str, expected: tuple) -> None:
    assert suggest(name) == expected
