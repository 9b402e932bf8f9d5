"""Every cure of vgp_models/cures.py on the broken VGG38, over seeds: issue 11's "Measured" table.

For each cure (RunConfig overrides on VGG38 at lr 1e-3) and each seed: bench/gradient_flow.py's at_init and
one epoch of train() over the first STEPS x BATCH coursework-train images; read the first weight tensor's mean
|grad| at initialisation (one backward on the first un-augmented batch) and on the last training batch, and the
val loss after the steps. One table: mean and spread over seeds, and each cure's gradient over plain VGG38's.
The first-layer gradient spans orders of magnitude, so its "mean" is the geometric mean and its spread min..max.

  VGP_DATA_DIR=../shared/data .venv/bin/python bench/cures.py                  # 300 steps of 100, 3 seeds
  .venv/bin/python bench/cures.py --steps 2 --seeds 1 --batch-size 8          # a check that it runs
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import header
from gradient_flow import CHANCE, run_config

from vgp_models.config import RunConfig
from vgp_models.cures import CURES
from vgp_models.data import load_cifar100
from vgp_models.train import resolve_device


def geometric(values: list[float]) -> float:
    """Geometric mean of positive values; 0 when any is 0 (a dead layer)."""
    return 0.0 if min(values) <= 0 else math.exp(statistics.fmean(math.log(v) for v in values))


def measure(cure: str, seed: int, data, args: argparse.Namespace) -> dict[str, float]:
    config = RunConfig.from_preset("vgg38", **{
        "lr": 1e-3, "epochs": 1, "batch_size": args.batch_size, "subset": args.steps * args.batch_size,
        "seed": seed, "amp": args.amp, "device": args.device, **CURES[cure]})  # fmt: skip
    r = run_config(config, data)
    first = next(iter(r["end"]))  # the first weight tensor in forward order (the entry conv)
    return {"init": r["start"][first], "after": r["end"][first], "val_loss": r["metrics"].val_loss,
            "seconds": r["seconds"]}  # fmt: skip


def row(cure: str, runs: list[dict[str, float]], plain: dict[str, float] | None) -> str:
    init, after = [r["init"] for r in runs], [r["after"] for r in runs]
    loss = [r["val_loss"] for r in runs]
    sd = statistics.stdev(loss) if len(loss) > 1 else math.nan
    text = (f"{cure:<12} {geometric(init):>9.2e} [{min(init):.1e}..{max(init):.1e}]  "
            f"{geometric(after):>9.2e} [{min(after):.1e}..{max(after):.1e}]  "
            f"{statistics.fmean(loss):.4f} ± {sd:.4f}")  # fmt: skip
    if plain:
        ratios = [geometric(v) / plain[k] if plain[k] else math.inf for k, v in (("init", init), ("after", after))]
        text += "  " + "  ".join(f"x{x:.1e} ({math.log10(x):+.1f})" if 0 < x < math.inf else f"x{x}" for x in ratios)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (one epoch)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 per cure")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (default fp32, the report's)")
    parser.add_argument("--cures", nargs="+", default=list(CURES), choices=list(CURES))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--data", default=os.environ.get("VGP_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    args = parser.parse_args()
    args.cures = ["none", *(c for c in args.cures if c != "none")]  # the baseline every ratio is against, first

    header("cures.py")
    device = resolve_device(RunConfig(device=args.device))
    print(f"# VGG38, Adam lr 1e-3, {args.steps} steps of batch {args.batch_size} (one epoch of train() on the first "
          f"{args.steps * args.batch_size} coursework-train images), seeds 0..{args.seeds - 1}, "
          f"{'bf16 autocast' if args.amp else 'fp32'}, device {device}")  # fmt: skip
    data = load_cifar100(args.data, device, subset=args.steps * args.batch_size)
    print(f"# data: {args.data}: train {len(data.train)}, val {len(data.val)}; ln(100) = {CHANCE:.4f}\n", flush=True)

    t0 = time.perf_counter()
    print(f"{'cure':<12} {'first-layer mean |grad|, init':<31} {f'after {args.steps} steps':<31} "
          f"{'val loss, mean ± sd':<18}  {'/ plain VGG38 (log10): init, after'}")  # fmt: skip
    plain = None
    for cure in args.cures:  # "none" first: each row prints as soon as it is measured
        runs = [measure(cure, seed, data, args) for seed in range(args.seeds)]
        print(row(cure, runs, plain), flush=True)
        print(f"# {cure}: {sum(r['seconds'] for r in runs):.0f} s", file=sys.stderr, flush=True)
        if cure == "none":
            plain = {k: geometric([r[k] for r in runs]) for k in ("init", "after")}
    print(f"# gradients: geometric mean [min..max] over seeds; total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
