"""What a loss landscape costs: wall time and peak memory of a 21 x 21 grid of VGG38 on 1,000 real training images.

Baseline, in the same run: a plain forward pass over the same images (vgp_models.train.evaluate, the pass each
point makes), timed after each point (paired, so that both see the same load on a shared machine): the ratio
point / forward says what the landscape adds to the forward passes (moving the weights along the directions).
`--points-measured K` times K points of the grid with vgp_models.landscape.walk (the job's own loop) and
extrapolates to the whole grid by the median point; `--full` measures every point instead. Wall time and CPU
time (time.process_time, one thread): on a shared machine the wall time depends on the other processes, while the
CPU time is what the work costs a core of its own. `--amp`
times the same in bf16 autocast. Peak memory: the process's ru_maxrss after loading (data, net), after the
baseline, and after the landscape; tracemalloc's peak of Python allocations during the landscape (directions and
the copy of theta live in torch's allocator, which tracemalloc does not see: ru_maxrss does).

  VGP_DATA_DIR=../shared/data .venv/bin/python bench/landscape_cost.py                 # 5 points, fp32
  VGP_DATA_DIR=../shared/data .venv/bin/python bench/landscape_cost.py --amp --points-measured 2
  VGP_DATA_DIR=../shared/data .venv/bin/python bench/landscape_cost.py --full          # all 441 points
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header  # noqa: E402

from vgp_models.config import RunConfig  # noqa: E402
from vgp_models.data import load_cifar100  # noqa: E402
from vgp_models.landscape import landscape_model, walk  # noqa: E402
from vgp_models.landscape_config import LandscapeConfig  # noqa: E402
from vgp_models.train import evaluate, resolve_device  # noqa: E402


def rss_mib() -> float:
    """The process's peak resident memory so far (ru_maxrss, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="vgg38")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--points", type=int, default=21, help="per axis (2D)")
    parser.add_argument("--points-measured", type=int, default=5, help="grid points timed, then extrapolated")
    parser.add_argument("--full", action="store_true", help="time every point of the grid")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default=os.environ.get("VGP_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    header("landscape_cost.py")
    config = LandscapeConfig(preset=args.preset, points=args.points, images=args.images, amp=args.amp,
                             device=args.device)  # fmt: skip
    run_config = RunConfig.from_preset(args.preset, amp=args.amp)
    device = resolve_device(RunConfig(device=args.device))
    data = load_cifar100(args.data, device, subset=args.images)
    model = landscape_model(run_config, None, data, device)  # a fresh net: the cost does not depend on the weights
    loaded = rss_mib()
    print(f"# {run_config.label}, {len(data.train)} images, {'bf16 autocast' if args.amp else 'fp32'}, "
          f"{config.total} points; a fresh net (BN statistics from the images)", flush=True)  # fmt: skip

    def plain_forward() -> tuple[float, float]:
        """(wall, CPU) seconds of one plain forward pass over the images."""
        t0, c0 = time.perf_counter(), time.process_time()
        evaluate(model, data.train, run_config)
        return time.perf_counter() - t0, time.process_time() - c0

    warm_up = plain_forward()  # warms the allocator and oneDNN's kernels up
    after_forward = rss_mib()
    print(f"plain forward over {len(data.train)} images (warm-up): {warm_up[0]:.2f} s wall, {warm_up[1]:.2f} s CPU",
          flush=True)  # fmt: skip

    measured = config.total if args.full else min(args.points_measured, config.total)
    seconds: list[float] = []  # wall, per point
    cpu: list[float] = []  # CPU, per point
    forwards: list[tuple[float, float]] = []  # (wall, CPU) of the plain forward after each point
    tracemalloc.start()
    t0 = time.perf_counter()
    mark = [time.process_time()]

    def on_point(point, done: int, total: int) -> None:
        seconds.append(point.seconds)
        cpu.append(time.process_time() - mark[0])
        forwards.append((math.nan, math.nan) if args.full else plain_forward())
        mark[0] = time.process_time()
        print(f"  point {done}/{total} ({point.alpha:+.1f}, {point.beta:+.1f}): {point.seconds:.2f} s wall, "
              f"{cpu[-1]:.2f} s CPU, loss {point.loss:.4g}; plain forward after it {forwards[-1][0]:.2f} s wall, "
              f"{forwards[-1][1]:.2f} s CPU", flush=True)  # fmt: skip

    walk(config, model, lambda m: evaluate(m, data.train, run_config), on_point,
         should_stop=lambda: len(seconds) >= measured)  # fmt: skip
    wall = time.perf_counter() - t0  # with --full, the points alone (no paired forwards then)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_point = statistics.median(seconds)
    total = wall if args.full else per_point * config.total
    cpu_point = statistics.median(cpu)
    print(f"points: median {per_point:.2f} s wall (min {min(seconds):.2f}, max {max(seconds):.2f}), "
          f"{cpu_point:.2f} s CPU, over {len(seconds)}")  # fmt: skip
    if not args.full:
        for what, k in (("wall", 0), ("CPU", 1)):
            ratios = [p / f[k] for p, f in zip(seconds if k == 0 else cpu, forwards)]
            print(f"plain forwards: median {statistics.median(f[k] for f in forwards):.2f} s {what}; ratio point / "
                  f"plain forward, paired, {what}: median {statistics.median(ratios):.3f} "
                  f"(min {min(ratios):.3f}, max {max(ratios):.3f})")  # fmt: skip
    how = "measured" if args.full else f"extrapolated from {len(seconds)} points"
    for what, span in (("wall", total), ("CPU (a core of its own)", cpu_point * config.total)):
        print(f"{config.points}x{config.points} landscape, {what}: {span / 60:.1f} min ({how}); target 10 min: "
              f"{'met' if span <= 600 else 'missed'} ({span / 600:.1f}x the target)")  # fmt: skip
    print(f"peak RSS: {loaded:.0f} MiB loaded, {after_forward:.0f} MiB after the forward, {rss_mib():.0f} MiB after "
          f"the landscape (+{rss_mib() - after_forward:.0f} MiB); Python allocations' peak during it "
          f"{py_peak / 2**20:.1f} MiB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
