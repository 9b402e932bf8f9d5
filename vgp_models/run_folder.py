"""A headless run folder: the complete record of one run, written as it trains.

  config.json        what was run and how it went: the RunConfig, its label, parameter count, device, torch
                     version, git commit, run uuid, start and end times, status, best epoch and test result
  summary.csv        the course framework's per-epoch file: train_acc, train_loss, val_acc, val_loss
  epochs.csv         per epoch: epoch, lr (at the epoch's first step), seconds (wall time), finished_at
  gradients.csv      long format: epoch, layer_index, layer, abs_mean_last, abs_mean_epoch, l2, weight_norm,
                     update_ratio (the last two empty where not measured; folders written before them lack them)
  signals.csv        long format, the forward signal (vgp_models.signals): epoch, layer_index, layer, mean, std,
                     negative_share (absent in folders written before it)
  steps.csv          the per-step curve: step (global), epoch, loss (nan/inf where not finite), lr, seconds
  test_summary.csv   the course framework's test file: test_acc, test_loss (once the run completed)
  last.pt, best.pt   checkpoints (resume state; never committed or imported)

Every CSV row of an epoch is rewritten on a repeat of that epoch (a resume after a crash between the
CSVs and last.pt), so the files hold each epoch once. `vgp_models.run_folder_reader` reads a folder back,
strictly, and `worker.importer` writes what it read into the database.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vgp_models.config import RunConfig, same_config
from vgp_models.folder_files import RunFolderError, load_json
from vgp_models.metrics import EpochMetrics, TrainResult
from vgp_models.provenance import git_commit, now_iso, parameter_count

# torch is imported inside the functions that train or build a model: run_folder_reader.py, which serves the
# dashboard's imports, imports this module's layout, and the dashboard never loads torch (docs/architecture.md).

FORMAT = "vgp-run-folder/1"
CONFIG_JSON = "config.json"
SUMMARY_CSV = "summary.csv"
EPOCHS_CSV = "epochs.csv"
GRADIENTS_CSV = "gradients.csv"
SIGNALS_CSV = "signals.csv"
TEST_SUMMARY_CSV = "test_summary.csv"
STEPS_CSV = "steps.csv"

SUMMARY_HEADER = ["train_acc", "train_loss", "val_acc", "val_loss"]
EPOCHS_HEADER = ["epoch", "lr", "seconds", "finished_at"]
GRADIENTS_HEADER_V1 = ["epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2"]
GRADIENTS_HEADER = [*GRADIENTS_HEADER_V1, "weight_norm", "update_ratio"]
SIGNALS_HEADER = ["epoch", "layer_index", "layer", "mean", "std", "negative_share"]
TEST_SUMMARY_HEADER = ["test_acc", "test_loss"]
STEPS_HEADER = ["step", "epoch", "loss", "lr", "seconds"]
CONFIG_BYTES = 2**20  # config.json, at most


def read_config_json(folder: Path) -> dict[str, Any] | None:
    """The folder's config.json (None when there is none), read within bounds (folder_files.load_json)."""
    path = folder / CONFIG_JSON
    if not os.path.lexists(path):  # a link named config.json is refused below, not taken for "none"
        return None
    record = load_json(path, CONFIG_BYTES)
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


def _optional(value: float | None) -> float | str:
    """A measurement that may be missing: empty in the CSV when None or not finite."""
    return "" if value is None or not math.isfinite(value) else value


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
            [[m.epoch, g.layer_index, g.layer, g.abs_mean_last, g.abs_mean_epoch, g.l2, _optional(g.weight_norm),
              _optional(g.update_ratio)] for g in m.grads],
            m.epoch,
            0,
        )  # fmt: skip
        if m.signals:
            _rewrite_epoch_rows(
                self.path / SIGNALS_CSV,
                SIGNALS_HEADER,
                [[m.epoch, s.layer_index, s.layer, s.mean, s.std, s.negative_share] for s in m.signals],
                m.epoch,
                0,
            )
        steps = [[p.step, p.epoch, p.loss, p.lr, round(p.seconds, 3)] for p in m.steps]
        _rewrite_epoch_rows(self.path / STEPS_CSV, STEPS_HEADER, steps, m.epoch, 1)

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
