"""What the forward signal and the weight updates (vgp_models.signals) cost a training epoch, per step.

Per epoch, training with them does three things more than without:
  armed step   the epoch's last full batch runs with forward hooks on every conv, BN and activation (mean,
               across-batch std and negative share of each output, on the device), then `read()` (one sync)
  start        a copy of the weights at the epoch's start (WeightUpdates.start)
  end          ||w_end|| and ||w_end - w_start|| per weight tensor, then one sync (WeightUpdates.read)
Measured in one run against the same step without them (vgp_models.train.train_step on one random batch):
  paired   blocks of STEPS steps, plain against armed, alternating (ABBA) for ROUNDS rounds; medians. The
           armed step's extra time, and start + end timed REPEATS times each.
Per step = (armed extra + start + end) / steps per epoch (--steps-per-epoch: 450, CIFAR-100's coursework
train split of 45,000 images at batch 100), as a share of the plain step. Target: under 3%. The armed step's
own overhead (one step in 450) is printed too.

  .venv/bin/python bench/signals_cost.py                  # VGG38 BN+RC (111 outputs, 75 weight tensors)
  .venv/bin/python bench/signals_cost.py --preset vgg38   # VGG38 (75 outputs, 39 weight tensors)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header, median, random_batch, step_cost_options, time_ms  # noqa: E402

from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.data import augment  # noqa: E402
from vgp_models.signals import ForwardSignal, WeightUpdates  # noqa: E402
from vgp_models.train import build_model, make_optimizer, model_input, resolve_device, train_step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    step_cost_options(parser, preset="vgg38-bn-rc", steps=5, pair="(plain, armed)")
    parser.add_argument("--repeats", type=int, default=50, help="calls of start() and of read() timed")
    parser.add_argument("--steps-per-epoch", type=int, default=450)
    args = parser.parse_args()

    config = RunConfig.from_preset(args.preset, batch_size=args.batch_size, device=args.device)
    device = resolve_device(config)
    header("signals_cost.py")
    model = build_model(config, device)
    optimizer, _ = make_optimizer(model, config)
    probe, updates = ForwardSignal(model), WeightUpdates(model)
    images, labels = random_batch(config.batch_size, device)
    aug = torch.Generator(device=device).manual_seed(1)

    def step(armed: bool) -> None:
        x = model_input(augment(images, aug), config)
        with probe.recording() if armed else contextlib.nullcontext():
            train_step(model, optimizer, x, labels, config, device)
        if armed:
            probe.read()

    for _ in range(3):  # warm-up: allocator, kernels
        step(True)
    outputs, tensors = len(probe.read()), len(updates.params)
    print(f"# {config.label}, batch {config.batch_size}, device {device}; {outputs} outputs recorded, {tensors} "
          f"weight tensors; {args.rounds} ABBA rounds of {args.steps} steps", flush=True)  # fmt: skip
    plain: list[float] = []
    armed: list[float] = []
    for r in range(args.rounds):
        for on in (False, True) if r % 2 == 0 else (True, False):
            (armed if on else plain).append(time_ms(lambda on=on: step(on), args.steps, device))
    start_ms = time_ms(updates.start, args.repeats, device)
    end_ms = time_ms(updates.read, args.repeats, device)

    plain_ms, armed_ms = median(plain), median(armed)
    extra_ms = max(armed_ms - plain_ms, 0.0)
    print(f"plain step:            {plain_ms:8.2f} ms  (blocks: {', '.join(f'{v:.1f}' for v in plain)})")
    print(f"armed step:            {armed_ms:8.2f} ms  (blocks: {', '.join(f'{v:.1f}' for v in armed)})")
    print(f"armed step's overhead: {(armed_ms - plain_ms) / plain_ms:+8.2%}  (one step an epoch; block noise "
          f"{(max(plain) - min(plain)) / plain_ms:.0%} of the step)")  # fmt: skip
    print(f"updates start / end:   {start_ms:8.3f} / {end_ms:.3f} ms  (once an epoch each)")
    per_epoch = extra_ms + start_ms + end_ms
    share = per_epoch / args.steps_per_epoch / plain_ms
    print(f"per epoch:             {per_epoch:8.2f} ms = {per_epoch / plain_ms:.2f} plain steps")
    print(f"per step, {args.steps_per_epoch} steps an epoch: {per_epoch / args.steps_per_epoch:.4f} ms = {share:.3%} "
          "of the plain step")  # fmt: skip
    print(f"target < 3%: {'met' if share < 0.03 else 'NOT met'}")


if __name__ == "__main__":
    main()
