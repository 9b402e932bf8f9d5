"""What tracking costs a user's training loop: a VGG38 step with `run.watch` + `run.step` against the same loop
without, same process, same model.

The loop is a user's plain PyTorch loop (forward, cross-entropy, backward, Adam step, zero_grad) on one fixed
random batch of CIFAR's shape; "tracked" adds `run.step(loss=loss)` after backward (the loss tensor itself: read
every k steps only) into a real database sink (a migrated SQLite file in a temporary folder), whose writer thread
beats every 2 s as it does for a user. Two measurements, both against the baseline taken in the same run:
  paired   blocks of STEPS steps without and with tracking, alternating (ABBA) for ROUNDS rounds; medians.
  isolated run.step() alone, REPEATS calls on one step's gradients, as a share of the step without it.
Target: at most 3% of the step.

  .venv/bin/python bench/track_overhead.py                        # VGG38, batch 100, 4 ABBA rounds of 10 steps
  .venv/bin/python bench/track_overhead.py --device cuda --steps 50 --rounds 6
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header, median, random_batch, step_cost_options, temp_sqlite_store, time_ms

from vgp_models.config import RunConfig
from vgp_models.track import Run
from vgp_models.train import build_model, model_input, resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    step_cost_options(parser, preset="vgg38", steps=10)
    parser.add_argument("--repeats", type=int, default=200, help="run.step() calls in the isolated measurement")
    args = parser.parse_args()

    config = RunConfig.from_preset(args.preset, batch_size=args.batch_size, device=args.device)
    device = resolve_device(config)
    header("track_overhead.py")
    model = build_model(config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = random_batch(config.batch_size, device)
    x = model_input(images, config)

    with temp_sqlite_store() as url:
        with Run("bench", config={"preset": args.preset}, database=url) as run:
            run.watch(model)
            tensors = sum(1 for name, _ in model.named_parameters() if name.endswith("weight"))
            print(f"# {config.label}, batch {config.batch_size}, device {device}; {tensors} weight tensors; "
                  f"sink: {run.sink.where}; {args.rounds} ABBA rounds of {args.steps} steps", flush=True)  # fmt: skip

            def step(tracked: bool) -> None:
                loss = F.cross_entropy(model(x), labels)
                loss.backward()
                if tracked:
                    run.step(loss=loss)
                optimizer.step()
                optimizer.zero_grad()

            for _ in range(3):
                step(True)
            off: list[float] = []
            on: list[float] = []
            for r in range(args.rounds):
                for tracked in (False, True) if r % 2 == 0 else (True, False):
                    (on if tracked else off).append(time_ms(lambda t=tracked: step(t), args.steps, device))
            loss = F.cross_entropy(model(x), labels)
            loss.backward()
            step_ms = time_ms(lambda: run.step(loss=loss), args.repeats, device)
            run.epoch(train_loss=1.0, train_acc=0.0, val_loss=1.0, val_acc=0.0)

    off_ms, on_ms = median(off), median(on)
    print(f"step without tracking: {off_ms:8.2f} ms  (blocks: {', '.join(f'{v:.1f}' for v in off)})")
    print(f"step with tracking:    {on_ms:8.2f} ms  (blocks: {', '.join(f'{v:.1f}' for v in on)})")
    print(f"paired ratio:          {on_ms / off_ms:8.4f}  ({(on_ms - off_ms) / off_ms:+.2%}; noise of the blocks: "
          f"{(max(off) - min(off)) / off_ms:.0%} of the step)")  # fmt: skip
    share = step_ms / off_ms
    print(f"isolated run.step():   {step_ms:8.3f} ms  = {share:.2%} of the step without it")
    print(f"target <= 3%: {'met' if share <= 0.03 else 'NOT met'}")


if __name__ == "__main__":
    main()
