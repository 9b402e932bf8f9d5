"""Headless CLI for a bare GPU box.

  python -m vgp_models info  --preset vgg38-bn-rc [--depth D] [--width W] [--bn] [--rc] [--arch densenet] ...
  python -m vgp_models architectures [--json]
  python -m vgp_models train --preset vgg38-bn-rc --lr 1e-2 --epochs 100 --data ../shared/data --out runs/x
  python -m vgp_models sweep [--depths 8 14 ...] [--cures none BN ...] [--seeds 3] --data ../shared/data [--out f.csv]
  python -m vgp_models landscape (--checkpoint runs/x/best.pt | --fresh vgg38) [--dims 2] [--points 21]
      [--images 1000] [--amp] --data ../shared/data --out runs/x/landscape_2d.csv

`train` writes the coursework's summary.csv and test_summary.csv, gradients.csv in long format, and the
checkpoints (last.pt, best.pt) into --out, with a progress bar and ETA on stderr. --resume continues from
--out/last.pt. `sweep` measures each cure's input/last-layer gradient ratio at initialisation against depth
(vgp_models.sweep), prints it as a table and writes every point to --out as CSV. `landscape` measures the train
loss and accuracy around a checkpoint's weights (or a fresh net's) along filter-normalised random directions
(vgp_models.landscape) and writes --out (CSV) and its record beside it (.json; vgp_models.landscape_file).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch

from vgp_models import landscape, nets, registry
from vgp_models.amplify import chosen_layers
from vgp_models.cli_options import OneLineArgumentParser, add_run_arguments, config_from_args
from vgp_models.config import DEVICES, ConfigError, RunConfig
from vgp_models.cures import CURES
from vgp_models.data import DEFAULT_DATA_DIR, DataError, data_dir_from_env, load_cifar100
from vgp_models.gradstats import weight_labels
from vgp_models.landscape_config import KINDS, LandscapeConfig
from vgp_models.landscape_file import write_landscape
from vgp_models.memory import activation_bytes, budgets_from_env, check_memory
from vgp_models.metrics import CheckpointMismatch, EpochMetrics
from vgp_models.nets import network
from vgp_models.run_folder import RunFolderError, train_into
from vgp_models.sweep import POINT_COLUMNS, Cell, point_rows, run_sweep, summary_table
from vgp_models.sweep_config import SweepConfig
from vgp_models.table1 import run_table1
from vgp_models.train import resolve_device
from vgp_models.vgg import count_parameters


def info(config: RunConfig) -> dict:
    """The net's size and labels; built on the meta device (shapes only), so depth 500 x width 1024 (4.7e9
    parameters) allocates nothing."""
    with torch.device("meta"):
        model = network(config)
    return {
        "label": config.label,
        "params": count_parameters(model),
        # A registered architecture has no closed form for its activations (vgp_models.memory): None.
        "activation_gb": round(activation_bytes(config) / 1e9, 3) if config.arch in registry.BUILTIN else None,
        "layers": weight_labels(model),
        "amplified_layers": chosen_layers(model, config),
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
        print(
            f"\repoch {self.epoch}/{self.epochs} [{bar:<20}] {step}/{steps}  {elapsed:5.0f}s  ETA {eta:5.0f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def epoch_done(self, m: EpochMetrics) -> None:
        print(
            f"\repoch {m.epoch}/{m.epochs}: train {m.train_loss:.4f} / {m.train_acc:.2%}  "
            f"val {m.val_loss:.4f} / {m.val_acc:.2%}  {m.seconds:.1f}s" + " " * 20,
            file=sys.stderr,
        )
        self.epoch = m.epoch + 1


def run_train(config: RunConfig, data_dir: str, out: Path, resume: bool, download: bool) -> int:
    check_memory(config, *budgets_from_env())  # before anything is built or loaded
    progress = Progress(config.epochs)
    if resume and (out / "last.pt").exists():
        progress.epoch = torch.load(out / "last.pt", map_location="cpu", weights_only=True)["epoch"] + 1
    result = train_into(
        out, config, data_dir, resume=resume, download=download, on_step=progress.step, on_epoch=progress.epoch_done
    )
    print(
        json.dumps(
            {
                "status": result.status,
                "message": result.message,
                "best_epoch": result.best_epoch,
                "test_acc": result.test_acc,
                "test_loss": result.test_loss,
                "out": str(out),
            }
        )
    )
    return 0 if result.status == "completed" else 1


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SweepConfig()
    parser.add_argument("--depths", type=int, nargs="+", default=list(defaults.depths), help="8 + 6N each")
    parser.add_argument("--cures", nargs="+", default=list(defaults.cures), help=f"of {', '.join(CURES)}")
    parser.add_argument("--seeds", type=int, default=defaults.seeds, help="inits per net (default %(default)s)")
    parser.add_argument("--batches", type=int, default=defaults.batches, help="batches per net (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="default %(default)s")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device)


def sweep_config_from_args(args: argparse.Namespace) -> SweepConfig:
    return SweepConfig(tuple(args.depths), tuple(args.cures), args.seeds, args.batches, args.batch_size, args.device)


def run_sweep_cli(sweep: SweepConfig, data_dir: str, out: Path | None, download: bool) -> int:
    device = resolve_device(RunConfig(device=sweep.device))
    data = load_cifar100(data_dir, device, subset=sweep.images, download=download)
    t0 = time.perf_counter()

    def progress(cell: Cell, done: int, total: int) -> None:
        print(f"\r{done}/{total} {cell.cure} depth {cell.depth} ({time.perf_counter() - t0:.0f} s)" + " " * 10,
              end="", file=sys.stderr, flush=True)  # fmt: skip

    cells = run_sweep(sweep, data, on_cell=progress)
    print(file=sys.stderr)
    print(summary_table(cells))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=POINT_COLUMNS)
            writer.writeheader()
            writer.writerows(point_rows(cells))
        print(f"wrote {sum(len(c.points) for c in cells)} points to {out}")
    return 0


def print_architectures(config_json: str, as_json: bool) -> int:
    try:
        base = json.loads(config_json)
    except ValueError as e:
        raise ConfigError(f"--config is not JSON ({e})") from None
    rows = nets.architectures(base)
    if as_json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        print(f"{row['arch']:<16} {row['params']:>12,}  {row['from']}")
    return 0


def add_landscape_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = LandscapeConfig()
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a VGP Lab checkpoint (best.pt or last.pt)")
    source.add_argument("--fresh", metavar="PRESET", help="a fresh net of this preset at its seed-0 init")
    parser.add_argument("--kind", choices=KINDS, default=defaults.kind, help="what --checkpoint is, for the record")
    parser.add_argument("--dims", type=int, default=defaults.dims, help="1 (a curve) or 2 (a grid)")
    parser.add_argument("--points", type=int, default=defaults.points, help="per axis, odd (default %(default)s)")
    parser.add_argument("--span", type=float, default=defaults.span, help="alpha in [-span, span] (default 1)")
    parser.add_argument("--images", type=int, default=defaults.images, help="first N training images")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="of the directions (default 0)")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (slower than fp32 on most CPUs)")
    parser.add_argument("--device", choices=DEVICES, default=defaults.device)
    parser.add_argument("--out", type=Path, required=True, help="CSV of the points; the record goes to .json")


def run_landscape_cli(args: argparse.Namespace) -> int:
    config = LandscapeConfig(preset=args.fresh, kind=args.kind, dims=args.dims, points=args.points, span=args.span,
                             images=args.images, seed=args.seed, amp=args.amp, device=args.device)  # fmt: skip
    device = resolve_device(RunConfig(device=config.device))
    state = None if args.checkpoint is None else landscape.load_checkpoint_file(args.checkpoint, device)
    run_config = (
        RunConfig.from_preset(args.fresh) if state is None else landscape.checkpoint_config(state, str(args.checkpoint))
    )
    data = load_cifar100(args.data, device, subset=config.images, download=args.download)
    t0 = time.perf_counter()

    def progress(point: landscape.LandscapePoint, done: int, total: int) -> None:
        elapsed = time.perf_counter() - t0
        print(f"\r{done}/{total} loss {point.loss:.4g} acc {point.acc:.2%}  {elapsed:5.0f}s  "
              f"ETA {elapsed / done * (total - done):5.0f}s", end="", file=sys.stderr, flush=True)  # fmt: skip

    points = landscape.measure_landscape(config, run_config, state, data, device, on_point=progress)
    print(file=sys.stderr)
    seconds = round(time.perf_counter() - t0, 1)
    origin = {k: state.get(k) for k in ("run_uuid", "epoch")} if state else {}
    write_landscape(args.out, config, landscape.point_rows(points), label=run_config.label, device=str(device),
                    torch=torch.__version__, seconds=seconds, checkpoint=args.checkpoint and str(args.checkpoint),
                    **origin)  # fmt: skip
    centre = next(p for p in points if p.alpha == 0 and not p.beta)
    summary = {"out": str(args.out), "points": len(points), "centre_loss": centre.loss, "centre_acc": centre.acc,
               "max_loss": max(p.loss for p in points), "seconds": seconds}  # fmt: skip
    print(json.dumps(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = OneLineArgumentParser(prog="python -m vgp_models", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineArgumentParser)
    add_run_arguments(sub.add_parser("info", help="parameter count and gradient-flow labels, as JSON"))
    p_archs = sub.add_parser("architectures", help="the built-in and registered architectures, with parameter counts")
    p_archs.add_argument("--json", action="store_true", help="one JSON list instead of a table")
    p_archs.add_argument("--config", default="{}", help="a config as JSON to count at (default: RunConfig's defaults)")
    p_train = sub.add_parser("train", help="train one run headless")
    add_run_arguments(p_train)
    p_train.add_argument("--out", type=Path, required=True, help="folder for CSVs and checkpoints")
    p_train.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p_table = sub.add_parser("table1", help="train Table 1's seven rows into one folder each, resumable")
    p_table.add_argument("--out", type=Path, required=True, help="folder for the seven run folders")
    p_table.add_argument("--epochs", type=int, default=100, help="epochs per row (default 100, the report's)")
    p_table.add_argument("--amp", action="store_true", help="bf16 autocast (default fp32, the report's)")
    p_table.add_argument("--subset", type=int, default=0, help="at most N images of each split; 0 = all")
    p_table.add_argument("--device", choices=DEVICES, default="auto")
    p_table.add_argument("--jobs", type=int, default=1, help="rows at a time (K > 1 for a GPU; default 1)")
    p_sweep = sub.add_parser("sweep", help="input/last-layer gradient ratio at initialisation, per cure and depth")
    add_sweep_arguments(p_sweep)
    p_sweep.add_argument("--out", type=Path, help="CSV file for every point (cure, depth, seed, first, last, ratio)")
    p_landscape = sub.add_parser("landscape", help="the loss landscape around a checkpoint or a fresh net")
    add_landscape_arguments(p_landscape)
    for p in (p_train, p_table, p_sweep, p_landscape):
        p.add_argument(
            "--data",
            default=data_dir_from_env(),
            help=f"folder holding cifar-100-python/ (default: $VGP_DATA_DIR or {DEFAULT_DATA_DIR})",
        )
        p.add_argument("--download", action="store_true", help="fetch CIFAR-100 with torchvision if missing")
    args = parser.parse_args(argv)
    try:
        if args.command == "table1":
            if args.jobs < 1:
                raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
            return run_table1(
                args.out, args.data, args.epochs, args.amp, args.subset, args.device, args.jobs, args.download
            )
        if args.command == "sweep":
            return run_sweep_cli(sweep_config_from_args(args), args.data, args.out, args.download)
        if args.command == "architectures":
            return print_architectures(args.config, args.json)
        if args.command == "landscape":
            return run_landscape_cli(args)
        config = config_from_args(args)
        if args.command == "info":
            print(json.dumps(info(config), indent=2))
            return 0
        return run_train(config, args.data, args.out, args.resume, args.download)
    except (ConfigError, DataError, RunFolderError, CheckpointMismatch, registry.RegistryError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
