"""A headless run folder: the complete record of one run, written as it trains.

  config.json        what was run and how it went: the RunConfig, its label, parameter count, device, torch
                     version, git commit, run uuid, start and end times, status, best epoch and test result
  summary.csv        the course framework's per-epoch file: train_acc, train_loss, val_acc, val_loss
  epochs.csv         per epoch: epoch, lr (at the epoch's first step), seconds (wall time), finished_at
  gradients.csv      long format: epoch, layer_index, layer, abs_mean_last, abs_mean_epoch, l2
  test_summary.csv   the course framework's test file: test_acc, test_loss (once the run completed)
  last.pt, best.pt   checkpoints (resume state; never committed or imported)

Every CSV row of an epoch is rewritten on a repeat of that epoch (a resume after a crash between the
CSVs and last.pt), so the files hold each epoch once. `worker.importer` reads folders back into the database.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vgp_models.config import RunConfig, same_config
from vgp_models.metrics import EpochMetrics, TrainResult
from vgp_models.provenance import git_commit, now_iso, parameter_count

# torch is imported inside the functions that train or build a model: the strict reader below serves the
# dashboard's imports, and the dashboard never loads torch (docs/architecture.md).

FORMAT = "vgp-run-folder/1"
CONFIG_JSON = "config.json"
SUMMARY_CSV = "summary.csv"
EPOCHS_CSV = "epochs.csv"
GRADIENTS_CSV = "gradients.csv"
TEST_SUMMARY_CSV = "test_summary.csv"

SUMMARY_HEADER = ["train_acc", "train_loss", "val_acc", "val_loss"]
EPOCHS_HEADER = ["epoch", "lr", "seconds", "finished_at"]
GRADIENTS_HEADER = ["epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2"]
TEST_SUMMARY_HEADER = ["test_acc", "test_loss"]


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message is one line that names the file."""


def read_config_json(folder: Path) -> dict[str, Any] | None:
    path = folder / CONFIG_JSON
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunFolderError(f"{path}: not readable as JSON ({e})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise RunFolderError(f"{path}: not a VGP Lab run record (format {FORMAT!r} expected)")
    return record


def _write_json(path: Path, record: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)


def _rewrite_epoch_rows(path: Path, header: list[str], rows: list[list], epoch: int, epoch_col: int | None) -> None:
    """Keep the rows of earlier epochs, then this epoch's. epoch_col None: row i is epoch i + 1 (summary.csv)."""
    kept: list[list[str]] = []
    if path.exists():
        with open(path, newline="") as f:
            body = list(csv.reader(f))[1:]
        kept = [r for i, r in enumerate(body) if (i + 1 if epoch_col is None else int(r[epoch_col])) < epoch]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *kept, *rows])


class RunFolder:
    """Writes one run's folder. `start` before training, `on_epoch` after each epoch, `finish` at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.record: dict[str, Any] = {}

    @property
    def run_uuid(self) -> str:
        return self.record["run_uuid"]

    def start(self, config: RunConfig, params: int, device: str, resume: bool) -> None:
        """Create the record, or on resume keep the folder's own (its uuid binds the checkpoints to it).

        A folder that holds another config is never resumed: RunFolderError, one line, names the difference.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        old = read_config_json(self.path)
        if old is not None and resume:
            if not same_config(old.get("config"), config):
                difference = config_difference(old.get("config"), config)
                raise RunFolderError(f"{self.path / CONFIG_JSON} holds another run ({difference}); use a new --out")
            self.record = {**old, "status": "running", "finished_at": None}
        else:
            if (self.path / "last.pt").exists() or (self.path / SUMMARY_CSV).exists():
                raise RunFolderError(f"{self.path} already holds a run; pass --resume to continue it, or a new --out")
            self.record = {
                "format": FORMAT,
                "run_uuid": str(uuid.uuid4()),
                "label": config.label,
                "config": config.to_dict(),
                "params": params,
                "started_at": now_iso(),
            }
        import torch

        self.record.update(device=device, torch=torch.__version__, git_commit=git_commit(), status="running")
        self.write_record()

    def write_record(self) -> None:
        _write_json(self.path / CONFIG_JSON, self.record)

    def on_epoch(self, m: EpochMetrics) -> None:
        _rewrite_epoch_rows(
            self.path / SUMMARY_CSV, SUMMARY_HEADER, [[m.train_acc, m.train_loss, m.val_acc, m.val_loss]], m.epoch, None
        )
        _rewrite_epoch_rows(
            self.path / EPOCHS_CSV, EPOCHS_HEADER, [[m.epoch, m.lr, round(m.seconds, 3), now_iso()]], m.epoch, 0
        )
        _rewrite_epoch_rows(
            self.path / GRADIENTS_CSV,
            GRADIENTS_HEADER,
            [[m.epoch, g.layer_index, g.layer, g.abs_mean_last, g.abs_mean_epoch, g.l2] for g in m.grads],
            m.epoch,
            0,
        )

    def finish(self, result: TrainResult) -> None:
        if result.status == "completed" and result.test_acc is not None:
            with open(self.path / TEST_SUMMARY_CSV, "w", newline="") as f:
                csv.writer(f).writerows([TEST_SUMMARY_HEADER, [result.test_acc, result.test_loss]])
        self.record.update(
            status=result.status,
            message=result.message,
            finished_at=now_iso(),
            epochs_run=result.epochs_run,
            best_epoch=result.best_epoch,
            best_val_acc=result.best_val_acc,
            test_acc=result.test_acc,
            test_loss=result.test_loss,
            diverged_step=result.diverged_step,
            amplified_layers=result.amplified_layers,
        )
        self.write_record()


def train_into(
    folder: Path,
    config: RunConfig,
    data_dir: str | Path,
    *,
    resume: bool,
    download: bool = False,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> TrainResult:
    """Train `config` into `folder` (CSVs, config.json, checkpoints bound to the folder's run uuid)."""
    from vgp_models.train import resolve_device, train

    writer = RunFolder(folder)
    writer.start(config, parameter_count(config), str(resolve_device(config)), resume)

    def epoch_done(m: EpochMetrics) -> None:
        writer.on_epoch(m)
        if on_epoch is not None:
            on_epoch(m)

    result = train(
        config,
        data_dir=data_dir,
        download=download,
        checkpoint_dir=folder,
        resume=resume,
        on_epoch=epoch_done,
        on_step=on_step,
        run_uuid=writer.run_uuid,
        git_commit=writer.record.get("git_commit"),
    )
    writer.finish(result)
    return result


def config_difference(old: Any, config: RunConfig) -> str:
    """'lr 0.001 there, 0.01 here; epochs ...': the fields that differ, for a one-line refusal."""
    if not isinstance(old, dict):
        return "its config is unreadable"
    new = config.to_dict()
    diffs = [
        f"{k} {old.get(k)!r} there, {new.get(k)!r} here"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]
    return "; ".join(diffs[:3]) + (f"; and {len(diffs) - 3} more" if len(diffs) > 3 else "")


# ---- reading a folder back, strictly --------------------------------------------------------------

FINISHED = ("completed", "diverged", "cancelled")  # a record in another status is a run still going (or crashed)
TRACKED_FINISHED = (*FINISHED, "failed", "interrupted")  # a tracked run is never resumed: these are ends too
COURSE_NAMESPACE = uuid.UUID("6f1d3c52-3b7e-4c55-9a44-0d7c1f6a2b90")  # uuid5 of a course-framework folder's files


@dataclass
class FolderContents:
    """One run folder, read and checked: everything `worker.importer` writes to the database."""

    path: Path
    run_uuid: str
    config: RunConfig | dict[str, Any]  # a tracked run's (vgp_models.track) is the user's own, as they gave it
    record: dict[str, Any]  # config.json, or what a course-framework folder implies
    epochs: list[dict[str, Any]]  # epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds
    gradients: list[dict[str, Any]]  # GRADIENTS_HEADER's fields
    test: tuple[float, float] | None  # (test_acc, test_loss)

    @property
    def config_dict(self) -> dict[str, Any]:
        return self.config if isinstance(self.config, dict) else self.config.to_dict()

    @property
    def epochs_total(self) -> int:
        if isinstance(self.config, dict):
            return int(self.record.get("epochs") or len(self.epochs))
        return self.config.epochs


def _rows(path: Path, header: list[str], any_order: bool = False) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV with exactly `header`'s columns; RunFolderError names the file and line."""
    if not path.is_file():
        raise RunFolderError(f"{path}: missing")
    try:
        with open(path, newline="") as f:
            lines = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunFolderError(f"{path}: not readable as CSV ({e})") from None
    got = lines[0] if lines else []
    if (sorted(got) != sorted(header)) if any_order else (got != header):
        raise RunFolderError(f"{path} line 1: columns {','.join(header)} expected, got {','.join(got) or 'nothing'}")
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(got):
            raise RunFolderError(f"{path} line {number}: {len(fields)} fields, {len(got)} expected")
        rows.append((number, dict(zip(got, fields))))
    return rows


def _number(
    path: Path, line: int, row: dict[str, str], column: str, lo: float = 0.0, hi: float = math.inf, blank: bool = False
) -> float | None:
    """The cell as a finite number in lo..hi; with `blank` (a tracked run's folder), an empty or non-finite cell is
    None: a value the user did not give, or a diverging loss."""
    text = row[column]
    if blank and text.strip().lower() in ("", "nan", "inf", "-inf"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        span = f"in {lo:g}..{hi:g}" if math.isfinite(hi) else f">= {lo:g}"
        raise RunFolderError(f"{path} line {line}: {column} is {text!r}, not a finite number {span}")
    return value


def _whole(path: Path, line: int, row: dict[str, str], column: str) -> int:
    value = _number(path, line, row, column)
    if value != int(value):
        raise RunFolderError(f"{path} line {line}: {column} is {row[column]!r}, not a whole number")
    return int(value)


def _read_summary(folder: Path, blank: bool = False) -> list[dict[str, Any]]:
    path = folder / SUMMARY_CSV
    rows = _rows(path, SUMMARY_HEADER, any_order=True)  # the course framework writes a dict's keys
    if not rows:
        raise RunFolderError(f"{path}: no epochs")
    return [
        {"epoch": i, "train_loss": _number(path, n, r, "train_loss", blank=blank),
         "train_acc": _number(path, n, r, "train_acc", hi=1, blank=blank),
         "val_loss": _number(path, n, r, "val_loss", blank=blank),
         "val_acc": _number(path, n, r, "val_acc", hi=1, blank=blank), "lr": None, "seconds": None}
        for i, (n, r) in enumerate(rows, start=1)
    ]  # fmt: skip


def _read_test(folder: Path) -> tuple[float, float]:
    path = folder / TEST_SUMMARY_CSV
    rows = _rows(path, TEST_SUMMARY_HEADER, any_order=True)
    if len(rows) != 1:
        raise RunFolderError(f"{path}: one row expected, got {len(rows)}")
    n, r = rows[0]
    return _number(path, n, r, "test_acc", hi=1), _number(path, n, r, "test_loss")


def _add_epoch_times(folder: Path, epochs: list[dict[str, Any]], blank: bool = False) -> None:
    path = folder / EPOCHS_CSV
    rows = _rows(path, EPOCHS_HEADER)
    if len(rows) != len(epochs):
        raise RunFolderError(f"{path}: {len(rows)} epochs, but {SUMMARY_CSV} has {len(epochs)}")
    for (n, r), epoch in zip(rows, epochs):
        if _whole(path, n, r, "epoch") != epoch["epoch"]:
            raise RunFolderError(f"{path} line {n}: epoch {r['epoch']}, {epoch['epoch']} expected")
        epoch["lr"], epoch["seconds"] = _number(path, n, r, "lr", blank=blank), _number(path, n, r, "seconds")


def _read_gradients(folder: Path, n_epochs: int, blank: bool = False) -> list[dict[str, Any]]:
    """Epochs 1..n_epochs in order, each with epoch 1's layers in order: anything else is a ragged file."""
    path = folder / GRADIENTS_CSV
    rows = _rows(path, GRADIENTS_HEADER)
    parsed = [(n, _whole(path, n, r, "epoch"), _whole(path, n, r, "layer_index"), r) for n, r in rows]
    n_layers = next((i for i, (_, epoch, _, _) in enumerate(parsed) if epoch != 1), len(parsed))
    layers = [r["layer"] for *_, r in parsed[:n_layers]]
    out = []
    for i, (n, epoch, index, r) in enumerate(parsed):
        want = (i // max(n_layers, 1) + 1, i % max(n_layers, 1))
        if (epoch, index) != want or r["layer"] != layers[want[1]] or not r["layer"]:
            raise RunFolderError(
                f"{path} line {n}: epoch {epoch} layer {index} ({r['layer']!r}), expected epoch "
                f"{want[0]} layer {want[1]} ({layers[want[1]]!r})"
            )
        out.append({"epoch": epoch, "layer_index": index, "layer": r["layer"],
                    **{c: _number(path, n, r, c, blank=blank) for c in GRADIENTS_HEADER[3:]}})  # fmt: skip
    if not n_layers or len(out) != n_epochs * n_layers:
        raise RunFolderError(
            f"{path}: {len(out)} rows, {n_epochs} epochs of {n_layers} layers expected "
            f"({SUMMARY_CSV} has {n_epochs} epochs)"
        )
    return out


def _is_tracked(record: dict[str, Any] | None) -> bool:
    """A tracked run's folder (vgp_models.track): the user's own config, any end status, blanks allowed."""
    return record is not None and record.get("origin") == "tracked"


def _check_record(path: Path, record: dict[str, Any]) -> RunConfig | dict[str, Any]:
    tracked = _is_tracked(record)
    try:
        config = record.get("config") if tracked else RunConfig.from_dict(record.get("config"))
        uuid.UUID(str(record.get("run_uuid")))
    except ValueError as e:  # ConfigError is one
        raise RunFolderError(f"{path}: {e}") from None
    if tracked and not isinstance(config, dict):
        raise RunFolderError(f"{path}: config is not a JSON object")
    if record.get("status") not in (TRACKED_FINISHED if tracked else FINISHED):
        raise RunFolderError(
            f"{path}: status {record.get('status')!r}; only a finished run ({', '.join(FINISHED)}) "
            "imports (resume it with `python -m vgp_models train --resume` first)"
        )
    for key in ("started_at", "finished_at"):
        try:
            dt.datetime.fromisoformat(str(record.get(key)))
        except ValueError:
            raise RunFolderError(f"{path}: {key} is {record.get(key)!r}, not an ISO time") from None
    return config


def read_run_folder(folder: Path, preset: str | None = None, lr: float | None = None) -> FolderContents:
    """Read a run folder back, checking every file; RunFolderError (one line, file and line) on anything amiss.

    A folder without config.json is the course framework's (summary.csv, test_summary.csv): `preset` and
    `lr` say what it ran; it has no gradients, lr or wall times, and its uuid is derived from its files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RunFolderError(f"{folder}: not a folder")
    record = read_config_json(folder)
    blank = _is_tracked(record)
    epochs = _read_summary(folder, blank)
    if record is None:
        return _course_folder(folder, epochs, preset, lr)
    if preset is not None or lr is not None:
        raise RunFolderError(f"{folder}: --preset and --lr are for course-framework folders; it has {CONFIG_JSON}")
    config = _check_record(folder / CONFIG_JSON, record)
    _add_epoch_times(folder, epochs, blank)
    tested = record["status"] == "completed" and not (blank and not (folder / TEST_SUMMARY_CSV).exists())
    test = _read_test(folder) if tested else None  # a tracked run may complete without run.test()
    return FolderContents(folder, str(record["run_uuid"]), config, record, epochs,
                          _read_gradients(folder, len(epochs), blank), test)  # fmt: skip


def _course_folder(folder: Path, epochs: list[dict[str, Any]], preset: str | None, lr: float | None) -> FolderContents:
    if preset is None or lr is None:
        raise RunFolderError(f"{folder}: no {CONFIG_JSON}; a course-framework folder needs --preset and --lr")
    try:
        config = RunConfig.from_preset(preset, lr=lr, epochs=len(epochs))
    except ValueError as e:
        raise RunFolderError(f"{folder}: {e}") from None
    test = _read_test(folder)
    digest = json.dumps([config.to_dict(), (folder / SUMMARY_CSV).read_text(), (folder / TEST_SUMMARY_CSV).read_text()])
    best = max(epochs, key=lambda e: (e["val_acc"], -e["epoch"]))  # the first epoch of the best val acc
    record = {"label": config.label, "status": "completed", "best_epoch": best["epoch"],
              "best_val_acc": best["val_acc"], "test_acc": test[0], "test_loss": test[1],
              "message": "imported from the course framework's files"}  # fmt: skip
    return FolderContents(folder, str(uuid.uuid5(COURSE_NAMESPACE, digest)), config, record, epochs, [], test)
