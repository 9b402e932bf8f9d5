"""What the gradient statistics cost per training step: GradientStats.update() on vs off, same model and device.

Each step is the trainer's: batched augment + normalise, (autocast) forward and loss, backward, Adam step;
"on" adds `GradientStats.update()` (mean |grad| and L2 per weight tensor, foreach kernels, on the device).
Two measurements, both against a baseline taken in the same run:
  paired   blocks of STEPS steps without and with update(), alternating (ABBA) for ROUNDS rounds; medians.
           On a shared or noisy machine the difference can drown in the noise: read the isolated figure.
  isolated update() alone, REPEATS calls on one step's gradients, as a share of the step without it.
Target: under 3% of step time. Random uint8 images of CIFAR's shape (the cost does not depend on the pixels).

  .venv/bin/python bench/gradstats_cost.py                               # VGG38 BN+RC (75 weight tensors)
  .venv/bin/python bench/gradstats_cost.py --device cuda --steps 50 --rounds 6 [--amp] [--compile]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header, median, random_batch, step_cost_options, time_ms  # noqa: E402

from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.data import augment  # noqa: E402
from vgp_models.gradstats import GradientStats  # noqa: E402
from vgp_models.train import autocast, build_model, make_optimizer, model_input, resolve_device  # noqa: E402


def make_step(config: RunConfig, device: torch.device):
    """A training step as train() takes it, on one fixed random batch; `step(True)` adds stats.update()."""
    model = build_model(config, device)
    optimizer, _ = make_optimizer(model, config)
    stats = GradientStats(model)
    step_model = torch.compile(model) if config.compile else model
    images, labels = random_batch(config.batch_size, device)
    aug = torch.Generator(device=device).manual_seed(1)

    def step(with_stats: bool) -> None:
        x = model_input(augment(images, aug), config)
        with autocast(config, device):
            loss = F.cross_entropy(step_model(x), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if with_stats:
            stats.update()

    return step, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    step_cost_options(parser, preset="vgg38-bn-rc", steps=10)
    parser.add_argument("--repeats", type=int, default=200, help="update() calls in the isolated measurement")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    config = RunConfig.from_preset(args.preset, batch_size=args.batch_size, device=args.device, amp=args.amp,
                                   compile=args.compile)  # fmt: skip
    device = resolve_device(config)
    header("gradstats_cost.py")
    step, stats = make_step(config, device)
    numel = sum(p.numel() for p in stats.params)
    print(
        f"# {config.label}, batch {config.batch_size}, device {device}, amp {config.amp}, compile {config.compile}; "
        f"{len(stats.params)} weight tensors, {numel:,} weights"
    )
    print(
        f"# {args.rounds} ABBA rounds of {args.steps} steps without / with update(); "
        f"isolated: {args.repeats} update() calls",
        flush=True,
    )

    for _ in range(3):  # warm-up: allocator, kernels, compile
        step(True)
    off: list[float] = []
    on: list[float] = []
    for r in range(args.rounds):
        for with_stats in (False, True) if r % 2 == 0 else (True, False):
            ms = time_ms(lambda on=with_stats: step(on), args.steps, device)
            (on if with_stats else off).append(ms)
    step(True)
    stats.reset()
    update_ms = time_ms(stats.update, args.repeats, device)

    off_ms, on_ms = median(off), median(on)
    print(f"step without update(): {off_ms:8.2f} ms  (blocks: {', '.join(f'{v:.1f}' for v in off)})")
    print(f"step with update():    {on_ms:8.2f} ms  (blocks: {', '.join(f'{v:.1f}' for v in on)})")
    print(
        f"paired overhead:       {(on_ms - off_ms) / off_ms:+8.2%}  (medians; noise of the blocks: "
        f"{(max(off) - min(off)) / off_ms:.0%} of the step)"
    )
    share = update_ms / off_ms
    print(f"isolated update():     {update_ms:8.3f} ms  = {share:.2%} of the step without it")
    print(f"target < 3%: {'met' if share < 0.03 else 'NOT met'}")


if __name__ == "__main__":
    main()
