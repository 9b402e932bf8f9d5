"""steps.csv in a run folder: written per epoch by `python -m vgp_models train` (run_folder.train_into), read
strictly (run_folder_reader.read_steps) and loaded by the importer beside the epochs and gradients; a folder without one
(older folders, the course framework's) imports with no steps."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from vgp_models.run_folder import STEPS_CSV, RunFolderError
from vgp_models.run_folder_reader import read_steps
from worker import db, frames, importer


@pytest.fixture
def folder(trained_run_folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained_run_folder, tmp_path / trained_run_folder.name))


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_the_folder_holds_every_recorded_step_and_the_importer_loads_them(store_url: str, folder: Path) -> None:
    table = rows(folder / STEPS_CSV)
    assert table[0] == ["step", "epoch", "loss", "lr", "seconds"]
    assert [(int(r[0]), int(r[1])) for r in table[1:]] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    (done,) = importer.import_folders([folder]).imported
    with db.session_scope() as session:
        steps = frames.steps_frame(session, [done.run_id])
    assert steps["step"].tolist() == [1, 2, 3, 4]
    assert steps["loss"].tolist() == [float(r[2]) for r in table[1:]]
    assert steps["seconds"].tolist() == [float(r[4]) for r in table[1:]]


def test_a_folder_without_steps_imports_with_none(store_url: str, folder: Path) -> None:
    (folder / STEPS_CSV).unlink()
    (done,) = importer.import_folders([folder]).imported
    with db.session_scope() as session:
        assert frames.steps_frame(session, [done.run_id]).empty


def test_a_non_finite_loss_is_kept(folder: Path) -> None:
    table = rows(folder / STEPS_CSV)
    table[4][2] = "nan"
    with open(folder / STEPS_CSV, "w", newline="") as f:
        csv.writer(f).writerows(table)
    assert math.isnan(read_steps(folder, 2)[-1].loss)


@pytest.mark.parametrize(
    ("line", "column", "value", "message"),
    [
        (3, 0, "1", "line 3: step 1 of epoch 1 after step 1 of epoch 1 (summary.csv has 2 epochs)"),
        (4, 1, "3", "line 4: step 3 of epoch 3 after step 2 of epoch 1 (summary.csv has 2 epochs)"),
        (2, 3, "fast", "line 2: lr is 'fast', not a finite number >= 0"),
        (2, 2, "low", "line 2: loss is 'low', not a number"),
    ],
)
def test_a_malformed_steps_file_is_one_line_and_nothing_is_written(
    store_url: str, folder: Path, line: int, column: int, value: str, message: str
) -> None:
    table = rows(folder / STEPS_CSV)
    table[line - 1][column] = value
    with open(folder / STEPS_CSV, "w", newline="") as f:
        csv.writer(f).writerows(table)
    with pytest.raises(RunFolderError) as error:
        importer.import_folders([folder])
    assert str(error.value) == f"{folder / STEPS_CSV} {message}"
    with db.session_scope() as session:
        assert frames.runs_frame(session).empty
