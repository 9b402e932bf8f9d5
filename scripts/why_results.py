"""The reference runs behind "why it vanishes": short fp32 runs of VGG08, VGG38, VGG38 RC and VGG38 BN+RC that
carry the forward signal, the weight updates and the steps, and the loss landscapes of the three VGG38s around
their best weights, as run folders that "Load the reference results" imports.

    python scripts/why_results.py --data ../shared/data --out results/why-cpu-2ep-5k-fp32

Resumable: a completed row is skipped and a row stopped mid-way resumes from its checkpoint; a landscape whose
CSV exists is kept. Checkpoints stay in the folders (git ignores *.pt); the landscapes are CSV + JSON.
Short on purpose: the 8-epoch Table 1 rows (results/table1-cpu-8ep-bf16/) were trained before the forward signal
was measured, in bf16, which this session's CPU (AVX2, no native bf16) runs about 7 times slower than fp32.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from vgp_models.config import RunConfig
from vgp_models.metrics import EpochMetrics
from vgp_models.run_folder import read_config_json, train_into

ROWS = ("vgg08", "vgg38", "vgg38-rc", "vgg38-bn-rc")
LANDSCAPES = ("vgg38", "vgg38-rc", "vgg38-bn-rc")  # the paper's comparison: with and without shortcuts


def report_epoch(m: EpochMetrics) -> None:
    print(f"epoch {m.epoch}: val acc {m.val_acc:.2%}", flush=True)


def train_rows(out: Path, data: str, epochs: int, subset: int) -> None:
    for preset in ROWS:
        folder = out / f"{preset}-lr0.001"
        record = read_config_json(folder) if folder.exists() else None
        if record and record.get("status") == "completed":
            print(f"{preset}: completed already", flush=True)
            continue
        config = RunConfig.from_preset(preset, epochs=epochs, subset=subset, device="cpu")
        t0 = time.perf_counter()
        result = train_into(folder, config, data, resume=True, on_epoch=report_epoch)
        print(f"{preset}: {result.status} in {time.perf_counter() - t0:.0f} s", flush=True)


def landscapes(out: Path, data: str, dims: int, points: int, images: int) -> None:
    for preset in LANDSCAPES:
        folder = out / f"{preset}-lr0.001"
        csv = folder / f"landscape_{dims}d.csv"
        if csv.exists():
            continue
        command = [sys.executable, "-m", "vgp_models", "landscape", "--checkpoint", str(folder / "best.pt"),
                   "--dims", str(dims), "--points", str(points), "--images", str(images), "--data", data,
                   "--out", str(csv)]  # fmt: skip
        subprocess.run(command, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding cifar-100-python/")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--subset", type=int, default=5000, help="training images (val and test at most this)")
    parser.add_argument("--dims", type=int, nargs="+", default=[1], help="landscapes to draw: 1, 2 or both")
    parser.add_argument("--points", type=int, default=41, help="points of the 1D slice")
    parser.add_argument("--grid", type=int, default=11, help="points per axis of the 2D grid (odd)")
    parser.add_argument("--images", type=int, default=1000, help="training images each landscape point evaluates")
    args = parser.parse_args()
    train_rows(args.out, args.data, args.epochs, args.subset)
    for dims in args.dims:
        landscapes(args.out, args.data, dims, args.points if dims == 1 else args.grid, args.images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
