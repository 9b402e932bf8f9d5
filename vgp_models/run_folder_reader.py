"""Reading a run folder back, strictly (`read_run_folder`, `read_steps`): what `worker.importer` writes into the
database, and the scripts draw. The layout is vgp_models/run_folder.py's, which writes it.

Every file is someone else's (vgp_models/folder_files.py): a regular file inside the folder or refused,
size-capped, CSVs streamed with a row cap, every config.json field checked (vgp_models/run_record.py).
A folder without config.json is the course framework's (vgp_models/course_folder.py).
"""

from __future__ import annotations

import json
import math
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vgp_models.config import RunConfig
from vgp_models.course_folder import CourseOptions, true_epochs
from vgp_models.folder_files import MAX_LINE_BYTES, RunFolderError, csv_rows, open_regular, read_capped
from vgp_models.metrics import StepPoint
from vgp_models.run_folder import (
    CONFIG_JSON,
    EPOCHS_CSV,
    EPOCHS_HEADER,
    GRADIENTS_CSV,
    GRADIENTS_HEADER,
    GRADIENTS_HEADER_V1,
    SIGNALS_CSV,
    SIGNALS_HEADER,
    STEPS_CSV,
    STEPS_HEADER,
    SUMMARY_CSV,
    SUMMARY_HEADER,
    TEST_SUMMARY_CSV,
    TEST_SUMMARY_HEADER,
    read_config_json,
)
from vgp_models.run_record import check_record, is_tracked

COURSE_NAMESPACE = uuid.UUID("6f1d3c52-3b7e-4c55-9a44-0d7c1f6a2b90")  # uuid5 of a course-framework folder's files
MAX_EPOCHS = 10_000  # RunConfig's bound
MAX_SUMMARY_ROWS = 3 * MAX_EPOCHS  # a continued course-framework run repeats epochs
MAX_LAYERS = 2_048  # gradient rows an epoch may have
MAX_GRADIENT_ROWS = 200_000  # ~76 MB once read; a 100-epoch VGG74 BN+RC has 15,000
SMALL_FILE_BYTES = 4 * 2**20  # summary.csv, epochs.csv, test_summary.csv
GRADIENTS_BYTES = 48 * 2**20
MAX_STEP_ROWS = 500_000  # every step of 100 epochs at batch 10; the default keeps ~50 an epoch
STEPS_BYTES = 32 * 2**20


@dataclass
class FolderContents:
    """One run folder, read and checked: everything `worker.importer` writes to the database."""

    path: Path
    run_uuid: str  # canonical (run_record.canonical_uuid)
    config: RunConfig | dict[str, Any]  # a tracked run's (vgp_models.track) is the user's own, as they gave it
    record: dict[str, Any]  # config.json's checked fields, or what a course-framework folder implies
    epochs: list[dict[str, Any]]  # epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds
    gradients: list[dict[str, Any]]  # GRADIENTS_HEADER's fields (weight_norm, update_ratio None where missing)
    test: tuple[float, float] | None  # (test_acc, test_loss)
    notes: tuple[str, ...] = ()  # what an import should say of it in a word: "interrupted: ...", "no gradient data"
    steps: list[StepPoint] = field(default_factory=list)  # steps.csv's per-step points; none in older folders
    signals: list[dict[str, Any]] = field(default_factory=list)  # SIGNALS_HEADER's fields; [] without signals.csv

    @property
    def config_dict(self) -> dict[str, Any]:
        return self.config if isinstance(self.config, dict) else self.config.to_dict()

    @property
    def epochs_total(self) -> int:
        if isinstance(self.config, dict):
            return int(self.record.get("epochs") or len(self.epochs))
        return self.config.epochs


def number_cell(
    path: Path, line: int, row: dict[str, str], column: str, lo: float = 0.0, hi: float = math.inf, blank: bool = False
) -> float | None:
    """The cell as a finite number in lo..hi; with `blank` (a tracked run's folder, a landscape's beta and loss), an
    empty or non-finite cell is None: a value the user did not give, or a diverging loss."""
    text = row[column]
    if blank and text.strip().lower() in ("", "nan", "inf", "-inf"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        span = f"in {lo:g}..{hi:g}" if math.isfinite(hi) else f">= {lo:g}"
        raise RunFolderError(f"{path} line {line}: {column} is {text[:40]!r}, not a finite number {span}")
    return value


def _whole(path: Path, line: int, row: dict[str, str], column: str) -> int:
    value = number_cell(path, line, row, column, hi=2**31 - 1)
    if value != int(value):
        raise RunFolderError(f"{path} line {line}: {column} is {row[column]!r}, not a whole number")
    return int(value)


def _read_summary(folder: Path, max_rows: int, blank: bool = False) -> list[dict[str, Any]]:
    path = folder / SUMMARY_CSV
    rows = csv_rows(path, SUMMARY_HEADER, max_rows, SMALL_FILE_BYTES, any_order=True)  # a dict's keys, any order
    epochs = [
        {"train_loss": number_cell(path, n, r, "train_loss", blank=blank),
         "train_acc": number_cell(path, n, r, "train_acc", hi=1, blank=blank),
         "val_loss": number_cell(path, n, r, "val_loss", blank=blank),
         "val_acc": number_cell(path, n, r, "val_acc", hi=1, blank=blank), "lr": None, "seconds": None}
        for n, r in rows
    ]  # fmt: skip
    if not epochs:
        raise RunFolderError(f"{path}: no epochs")
    return epochs


def _read_test(folder: Path) -> tuple[float, float]:
    path = folder / TEST_SUMMARY_CSV
    rows = list(csv_rows(path, TEST_SUMMARY_HEADER, 1, SMALL_FILE_BYTES, any_order=True))
    if len(rows) != 1:
        raise RunFolderError(f"{path}: one row expected, got {len(rows)}")
    n, r = rows[0]
    return number_cell(path, n, r, "test_acc", hi=1), number_cell(path, n, r, "test_loss")


def _add_epoch_times(folder: Path, epochs: list[dict[str, Any]], blank: bool = False) -> None:
    path = folder / EPOCHS_CSV
    rows = list(csv_rows(path, EPOCHS_HEADER, MAX_EPOCHS, SMALL_FILE_BYTES))
    if len(rows) != len(epochs):
        raise RunFolderError(f"{path}: {len(rows)} epochs, but {SUMMARY_CSV} has {len(epochs)}")
    for (n, r), epoch in zip(rows, epochs):
        if _whole(path, n, r, "epoch") != epoch["epoch"]:
            raise RunFolderError(f"{path} line {n}: epoch {r['epoch'][:20]}, {epoch['epoch']} expected")
        epoch["lr"], epoch["seconds"] = number_cell(path, n, r, "lr", blank=blank), number_cell(path, n, r, "seconds")


def _read_gradients(folder: Path, n_epochs: int, blank: bool = False) -> list[dict[str, Any]]:
    """gradients.csv; a folder written before the weight updates has GRADIENTS_HEADER_V1's columns (None for them).
    With `blank` (a tracked run's folder) any statistic may be empty."""
    path = folder / GRADIENTS_CSV
    header = GRADIENTS_HEADER_V1 if _first_line(path) == ",".join(GRADIENTS_HEADER_V1) else GRADIENTS_HEADER
    optional = tuple(header[3:]) if blank else ("weight_norm", "update_ratio")
    rows = _read_layer_rows(path, header, n_epochs, optional=optional, blank=blank)
    return [{"weight_norm": None, "update_ratio": None, **row} for row in rows]


def _read_signals(folder: Path, n_epochs: int) -> list[dict[str, Any]]:
    """signals.csv, or [] for a folder written before the forward signal was recorded."""
    path = folder / SIGNALS_CSV
    if not os.path.lexists(path):  # a link named signals.csv is refused by csv_rows, not taken for "none"
        return []
    return _read_layer_rows(path, SIGNALS_HEADER, n_epochs, {"mean": (-math.inf, math.inf), "negative_share": (0, 1)})


def _first_line(path: Path) -> str:
    """The file's first line, read within bounds (csv_rows names any problem with the file itself)."""
    try:
        with open_regular(path, GRADIENTS_BYTES) as f:
            return f.readline(MAX_LINE_BYTES).decode("utf-8", "replace").strip()
    except RunFolderError:
        return ""


def _read_layer_rows(path: Path, header: list[str], n_epochs: int, bounds: dict[str, tuple[float, float]] | None = None,
                     optional: tuple[str, ...] = (), blank: bool = False) -> list[dict[str, Any]]:  # fmt: skip
    """A per-layer file (epoch, layer_index, layer, numbers...), streamed within caps: epochs 1..n_epochs in order,
    each with epoch 1's layers in order; anything else is a ragged file. Numbers are finite and >= 0 unless
    `bounds` says otherwise; an `optional` column may be empty (None), and with `blank` (a tracked run's folder)
    also nan or inf."""
    rows = csv_rows(path, header, min(n_epochs * MAX_LAYERS, MAX_GRADIENT_ROWS), GRADIENTS_BYTES)
    bounds = bounds or {}

    def value(n: int, r: dict[str, str], column: str) -> float | None:
        if column in optional and r[column].strip().lower() in (("", "nan", "inf", "-inf") if blank else ("",)):
            return None
        return number_cell(path, n, r, column, *bounds.get(column, (0.0, math.inf)))

    layers: list[str] = []  # epoch 1's, in order; later epochs share these strings
    out = []
    for n, r in rows:
        epoch, index = _whole(path, n, r, "epoch"), _whole(path, n, r, "layer_index")
        if epoch == 1 and index == len(layers) and len(out) == index and 0 < len(r["layer"]) <= 120:
            layers.append(r["layer"])
        i = len(out)
        want = (i // max(len(layers), 1) + 1, i % max(len(layers), 1))
        if (epoch, index) != want or not layers or r["layer"] != layers[want[1]]:
            expected = layers[want[1]] if layers else "a name of 1 to 120 characters"
            raise RunFolderError(
                f"{path} line {n}: epoch {epoch} layer {index} ({r['layer'][:120]!r}), expected epoch "
                f"{want[0]} layer {want[1]} ({expected!r})"
            )
        out.append({"epoch": epoch, "layer_index": index, "layer": layers[index],
                    **{c: value(n, r, c) for c in header[3:]}})  # fmt: skip
    if not layers or len(out) != n_epochs * len(layers):
        raise RunFolderError(
            f"{path}: {len(out)} rows, {n_epochs} epochs of {len(layers)} layers expected "
            f"({SUMMARY_CSV} has {n_epochs} epochs)"
        )
    return out


def read_steps(folder: Path, n_epochs: int, blank: bool = False) -> list[StepPoint]:
    """steps.csv's points (none when the folder has no steps.csv: older folders, the course framework's), strictly:
    steps increasing from 1, epochs in 1..n_epochs and never going back, lr and seconds finite; a loss may be nan or
    inf (a diverging run's signal). RunFolderError (one line, file and line) on anything else."""
    path = Path(folder) / STEPS_CSV
    if not os.path.lexists(path):  # a link named steps.csv is refused by csv_rows
        return []
    points: list[StepPoint] = []
    for n, r in csv_rows(path, STEPS_HEADER, MAX_STEP_ROWS, STEPS_BYTES):
        step, epoch = _whole(path, n, r, "step"), _whole(path, n, r, "epoch")
        last = points[-1] if points else StepPoint(0, 1, 0.0, 0.0, 0.0)
        if step <= last.step or not last.epoch <= epoch <= n_epochs:
            raise RunFolderError(f"{path} line {n}: step {step} of epoch {epoch} after step {last.step} of epoch "
                                 f"{last.epoch} ({SUMMARY_CSV} has {n_epochs} epochs)")  # fmt: skip
        try:
            loss = float(r["loss"])
        except ValueError:
            raise RunFolderError(f"{path} line {n}: loss is {r['loss'][:40]!r}, not a number") from None
        lr, seconds = number_cell(path, n, r, "lr", blank=blank), number_cell(path, n, r, "seconds", blank=blank)
        points.append(StepPoint(step, epoch, loss, lr, seconds))  # blank (a tracked run's): None if not given
    return points


def read_run_folder(folder: Path, course: CourseOptions | None = None) -> FolderContents:
    """Read a run folder back, checking every file; RunFolderError (one line, file and line) on anything amiss.

    A folder without config.json is the course framework's (summary.csv, test_summary.csv): `course` says what
    it ran (vgp_models/course_folder.py); it has no gradients, lr or wall times, and its uuid is derived from
    its files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a folder")
    record = read_config_json(folder)
    if record is None:
        return _course_folder(folder, course or CourseOptions())
    if course is not None and course != CourseOptions():
        raise RunFolderError(f"{folder}: --preset, --lr and the like are for course-framework folders; "
                             f"it has {CONFIG_JSON}")  # fmt: skip
    blank = is_tracked(record)  # the user's own loop: a value it did not give is empty
    epochs = [{"epoch": i, **e} for i, e in enumerate(_read_summary(folder, MAX_EPOCHS, blank), start=1)]
    config, checked = check_record(folder / CONFIG_JSON, record, len(epochs))
    _add_epoch_times(folder, epochs, blank)
    tested = checked["status"] == "completed" and not (blank and not os.path.lexists(folder / TEST_SUMMARY_CSV))
    test = _read_test(folder) if tested else None  # a tracked run may complete without run.test()
    gradients = _read_gradients(folder, len(epochs), blank)
    steps = read_steps(folder, len(epochs), blank)
    signals = _read_signals(folder, len(epochs))
    return FolderContents(folder, checked["run_uuid"], config, checked, epochs, gradients, test, steps=steps,
                          signals=signals)  # fmt: skip


def _course_folder(folder: Path, options: CourseOptions) -> FolderContents:
    if options.preset is None or options.lr is None:
        raise RunFolderError(f"{folder}: no {CONFIG_JSON}; a course-framework folder needs --preset and --lr")
    summary = folder / SUMMARY_CSV
    tested = os.path.lexists(folder / TEST_SUMMARY_CSV)
    test = _read_test(folder) if tested else None
    epochs, total = true_epochs(summary, _read_summary(folder, MAX_SUMMARY_ROWS), options, tested)
    try:
        config = RunConfig.from_preset(options.preset, lr=options.lr, epochs=total, schedule=options.schedule)
    except ValueError as e:
        raise RunFolderError(f"{folder}: {e}") from None
    best = max(epochs, key=lambda e: (e["val_acc"], -e["epoch"]))  # the first epoch of the best val acc
    notes = ["no gradient data: the course framework writes none"]
    message = "imported from the course framework's files"
    if test is None:
        notes.insert(0, f"interrupted: no {TEST_SUMMARY_CSV}, {len(epochs)} of {total} epochs, no test result")
        message = f"{message}; stopped before its test (no {TEST_SUMMARY_CSV}) after {len(epochs)} of {total} epochs"
    texts = [_text(summary), _text(folder / TEST_SUMMARY_CSV) if tested else ""]
    digest = json.dumps([config.to_dict(), *texts])
    record = {"label": config.label, "status": "completed" if test else "interrupted", "best_epoch": best["epoch"],
              "best_val_acc": best["val_acc"], "message": message}  # fmt: skip
    run_uuid = str(uuid.uuid5(COURSE_NAMESPACE, digest))
    return FolderContents(folder, run_uuid, config, record, epochs, [], test, tuple(notes))


def _text(path: Path) -> str:
    """A checked file's text as `Path.read_text` gives it (universal newlines): the uuid of a course folder
    imported before this reader is the same."""
    data = read_capped(path, SMALL_FILE_BYTES)
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
