"""Headless CLI for a bare GPU box.

  python -m vgp_models info  --preset vgg38-bn-rc [--depth D] [--width W] [--bn] [--rc] [--shortcut S]
  python -m vgp_models train --preset vgg38-bn-rc --lr 1e-2 --epochs 100 --data ../shared/data --out runs/x

`train` writes the coursework's summary.csv and test_summary.csv, gradients.csv in long format, and the
checkpoints (last.pt, best.pt) into --out, with a progress bar and ETA on stderr. --resume continues from
--out/last.pt.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from vgp_models.cli_options import OneLineArgumentParser, add_run_arguments, config_from_args
from vgp_models.config import ConfigError, RunConfig
from vgp_models.data import DataError
from vgp_models.gradstats import weight_labels
from vgp_models.train import EpochMetrics, train
from vgp_models.vgg import VGG, count_parameters


def info(config: RunConfig) -> dict:
    model = VGG(config)
    return {
        "label": config.label,
        "params": count_parameters(model),
        "layers": weight_labels(model),
        "config": config.to_dict(),
    }


class Progress:
    """One stderr line: epoch k/N, the step within it, elapsed time and an ETA from the mean step time."""

    def __init__(self, epochs: int) -> None:
        self.epochs, self.epoch, self.t0, self.steps_done = epochs, 1, time.perf_counter(), 0

    def step(self, step: int, steps: int) -> None:
        self.steps_done += 1
        if step % 10 and step != steps:
            return
        elapsed = time.perf_counter() - self.t0
        remaining = (self.epochs - self.epoch) * steps + (steps - step)
        eta = elapsed / self.steps_done * remaining
        bar = "#" * int(20 * step / steps)
        print(f"\repoch {self.epoch}/{self.epochs} [{bar:<20}] {step}/{steps}  {elapsed:5.0f}s  ETA {eta:5.0f}s",
              end="", file=sys.stderr, flush=True)

    def epoch_done(self, m: EpochMetrics) -> None:
        print(f"\repoch {m.epoch}/{m.epochs}: train {m.train_loss:.4f} / {m.train_acc:.2%}  "
              f"val {m.val_loss:.4f} / {m.val_acc:.2%}  {m.seconds:.1f}s" + " " * 20, file=sys.stderr)
        self.epoch = m.epoch + 1


def write_epoch_rows(
    path: Path, header: list[str], rows: list[list], epoch: int, epoch_of: Callable[[int, list[str]], int]
) -> None:
    """Rewrite a CSV keeping the rows of earlier epochs, then this epoch's: right after a resume too."""
    kept: list[list[str]] = []
    if path.exists():
        with open(path, newline="") as f:
            kept = [r for i, r in enumerate(list(csv.reader(f))[1:]) if epoch_of(i, r) < epoch]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *kept, *rows])


def run_train(config: RunConfig, data_dir: str, out: Path, resume: bool, download: bool) -> int:
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(config.epochs)
    if resume and (out / "last.pt").exists():
        progress.epoch = torch.load(out / "last.pt", map_location="cpu", weights_only=True)["epoch"] + 1

    def on_epoch(m: EpochMetrics) -> None:
        progress.epoch_done(m)
        write_epoch_rows(out / "summary.csv", ["train_acc", "train_loss", "val_acc", "val_loss"],
                         [[m.train_acc, m.train_loss, m.val_acc, m.val_loss]], m.epoch, lambda i, r: i + 1)
        write_epoch_rows(out / "gradients.csv",
                         ["epoch", "layer_index", "layer", "abs_mean_last", "abs_mean_epoch", "l2"],
                         [[m.epoch, g.layer_index, g.layer, g.abs_mean_last, g.abs_mean_epoch, g.l2] for g in m.grads],
                         m.epoch, lambda i, r: int(r[0]))

    result = train(config, data_dir=data_dir, download=download, checkpoint_dir=out, resume=resume,
                   on_epoch=on_epoch, on_step=progress.step)
    if result.status == "completed":
        with open(out / "test_summary.csv", "w", newline="") as f:
            csv.writer(f).writerows([["test_acc", "test_loss"], [result.test_acc, result.test_loss]])
    print(json.dumps({"status": result.status, "message": result.message, "best_epoch": result.best_epoch,
                      "test_acc": result.test_acc, "test_loss": result.test_loss, "out": str(out)}))
    return 0 if result.status == "completed" else 1


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m vgp_models", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineArgumentParser)
    add_run_arguments(sub.add_parser("info", help="parameter count and gradient-flow labels, as JSON"))
    p_train = sub.add_parser("train", help="train one run headless")
    add_run_arguments(p_train)
    p_train.add_argument("--data", default=os.environ.get("VGP_DATA_DIR", "var/data"),
                         help="folder holding cifar-100-python/ (default: $VGP_DATA_DIR or var/data)")
    p_train.add_argument("--download", action="store_true", help="fetch CIFAR-100 with torchvision if missing")
    p_train.add_argument("--out", type=Path, required=True, help="folder for CSVs and checkpoints")
    p_train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        if args.command == "info":
            print(json.dumps(info(config), indent=2))
            return 0
        return run_train(config, args.data, args.out, args.resume, args.download)
    except (ConfigError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
