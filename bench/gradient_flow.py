"""Gradient flow in the first few hundred steps: VGG08, VGG38 and VGG38 BN+RC on CIFAR-100 (the report's Fig. 2/3/5).

Each model: build it (seed 0, width 32), read the val loss and the entry conv's mean |grad| at initialisation,
then one epoch of vgp_models.train.train() over the first STEPS x BATCH images of the coursework's train
split (Adam 1e-3, augmentation on), and read the same numbers after it. VGG38 should stay at ln(100) = 4.605
with an entry gradient near zero; VGG08 and VGG38 BN+RC should fall. Figures: docs/benchmarks.md.

  VGP_DATA_DIR=../shared/data .venv/bin/python bench/gradient_flow.py              # 300 steps of 100, each model
  .venv/bin/python bench/gradient_flow.py --steps 50 --presets vgg08 vgg38         # a quicker look
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import machine

from vgp_models.config import RunConfig
from vgp_models.data import Cifar100, load_cifar100
from vgp_models.gradstats import GradientStats
from vgp_models.metrics import EpochMetrics
from vgp_models.train import build_model, evaluate, model_input, resolve_device, train

CHANCE = math.log(100)
MID_LAYER = "reduction_block_1_conv_1"  # the report: VGG38 reads 0 up to reduction_block_1


def at_init(config: RunConfig, data: Cifar100, device: torch.device, batch: int) -> dict[str, float]:
    """Val loss, and mean |grad| per layer after one CE backward on the split's first (un-augmented) batch."""
    model = build_model(config, device)
    val_loss, val_acc = evaluate(model, data.val, config)
    model.train()
    stats = GradientStats(model)
    images, labels = data.train.images[:batch], data.train.labels[:batch]
    F.cross_entropy(model(model_input(images, config)), labels).backward()
    stats.update()
    grads = dict(zip(stats.labels, stats.read()["abs_mean_last"]))
    return {"val_loss": val_loss, "val_acc": val_acc, **grads}


def run(preset: str, data: Cifar100, steps: int, batch: int, device_name: str) -> dict:
    config = RunConfig.from_preset(preset, epochs=1, batch_size=batch, subset=steps * batch, device=device_name)
    return run_config(config, data)


def run_config(config: RunConfig, data: Cifar100) -> dict:
    """at_init, then one epoch of train() over `data` (its train split is the steps x batch images to use)."""
    device = resolve_device(config)
    batch = config.batch_size
    start = at_init(config, data, device, batch)
    epochs: list[EpochMetrics] = []
    stamps: list[float] = []
    t0 = time.perf_counter()
    result = train(config, data, on_epoch=epochs.append, on_step=lambda s, n: stamps.append(time.perf_counter()))
    seconds = time.perf_counter() - t0
    m = epochs[-1]
    end = {g.layer: g.abs_mean_last for g in m.grads}
    per_step = (stamps[-1] - stamps[0]) / max(len(stamps) - 1, 1)  # first step excluded as warm-up
    return {
        "label": config.label,
        "params": result.params,
        "start": start,
        "end": end,
        "metrics": m,
        "result": result,
        "steps": len(stamps),
        "per_step": per_step,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["vgg08", "vgg38", "vgg38-bn-rc"])
    parser.add_argument("--steps", type=int, default=300, help="training steps per model (one epoch)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--data", default=os.environ.get("VGP_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    args = parser.parse_args()

    device = resolve_device(RunConfig(device=args.device))
    print(f"# bench/gradient_flow.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# machine: {machine()}")
    print(f"# torch {torch.__version__}, python {platform.python_version()}, device {device}")
    print(
        f"# {args.steps} steps of batch {args.batch_size} per model (one epoch of train() on the first "
        f"{args.steps * args.batch_size} coursework-train images), Adam 1e-3, seed 0, channels_last default"
    )
    t = time.perf_counter()
    data = load_cifar100(args.data, device, subset=args.steps * args.batch_size)
    print(
        f"# data: {args.data}: train {len(data.train)}, val {len(data.val)}, test {len(data.test)} "
        f"(loaded in {time.perf_counter() - t:.1f}s)\n",
        flush=True,
    )

    t_all = time.perf_counter()
    rows = []
    for preset in args.presets:
        r = run(preset, data, args.steps, args.batch_size, args.device)
        rows.append(r)
        m, s, e = r["metrics"], r["start"], r["end"]
        print(
            f"{r['label']:<12} {r['params']:>7,} params  {r['steps']} steps in {r['seconds']:.0f}s "
            f"({r['per_step'] * 1000:.0f} ms/step)",
            flush=True,
        )
        print(
            f"  val loss    {s['val_loss']:.4f} -> {m.val_loss:.4f}   "
            f"val acc {s['val_acc']:.2%} -> {m.val_acc:.2%}   mean train loss over the steps {m.train_loss:.4f}   "
            f"test {r['result'].test_loss:.4f} / {r['result'].test_acc:.2%}"
        )
        for layer in ("input_conv_conv_0", MID_LAYER, "logit_linear_layer"):
            print(f"  mean |grad| {layer:<26} {s[layer]:.3e} (init) -> {e[layer]:.3e} (last batch)")
        print(flush=True)

    by = {r["label"]: r for r in rows}
    print("# comparison")
    if "VGG38" in by:
        v = by["VGG38"]
        print(
            f"  VGG38 val loss at the end {v['metrics'].val_loss:.4f}, ln(100) = {CHANCE:.4f}: "
            f"{'stays at chance' if abs(v['metrics'].val_loss - CHANCE) < 0.01 else 'moved off chance'}"
        )
        for other in (lbl for lbl in by if lbl != "VGG38"):
            o = by[other]
            ratio_init = o["start"]["input_conv_conv_0"] / max(v["start"]["input_conv_conv_0"], 1e-45)
            ratio_end = o["end"]["input_conv_conv_0"] / max(v["end"]["input_conv_conv_0"], 1e-45)
            print(
                f"  entry-conv mean |grad|, {other} / VGG38: {ratio_init:.1e} at init, {ratio_end:.1e} after "
                f"{o['steps']} steps; val loss fell {o['start']['val_loss'] - o['metrics'].val_loss:.3f}"
            )
    print(f"# total {time.perf_counter() - t_all:.0f}s")


if __name__ == "__main__":
    main()
