"""Several runs on one device: aggregate training images/s for K concurrent training processes.

Each process is what a worker's job runs, minus the database: vgp_models.train.train() for one epoch of
STEPS x BATCH random uint8 images (val and test: 10 images, so evaluation costs nothing). Each process
first trains 2 warm-up steps, then all K wait at a barrier and start together.
  aggregate     K x STEPS x BATCH images / wall time from the barrier to the last process's end
  per process   STEPS x BATCH / that process's own time
Two thread settings, both in the same run; every row's ratio is to one process with default threads (the
worker today), and the sweeps are interleaved, so load from other processes falls on all rows alike:
  default   torch's default: every process uses all cores (what `python -m worker worker` gets today)
  split     torch.set_num_threads(max(1, cores // K)) in each process (what OMP_NUM_THREADS would give)
Processes are spawned, so the parent never initialises CUDA (as the worker's parent); on a GPU box all K
share the one device that CUDA_VISIBLE_DEVICES names.

  .venv/bin/python bench/concurrent_runs.py --preset vgg08 --steps 20
  .venv/bin/python bench/concurrent_runs.py --preset vgg38 --steps 10 --ks 1 2 4
  CUDA_VISIBLE_DEVICES=0 .venv/bin/python bench/concurrent_runs.py --device cuda --preset vgg38 --steps 200
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def child(preset: str, steps: int, batch: int, device: str, threads: int, seed: int, barrier, results) -> None:
    """One training process: warm up, wait for the others, train, report (start, end) wall-clock times."""
    import torch

    from vgp_models.config import RunConfig
    from vgp_models.data import Cifar100, Split
    from vgp_models.train import resolve_device, train

    if threads:
        torch.set_num_threads(threads)
    config = RunConfig.from_preset(preset, epochs=1, batch_size=batch, device=device, seed=seed)
    dev = resolve_device(config)
    g = torch.Generator().manual_seed(seed)
    n = steps * batch
    split = Split(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g).to(dev),
                  torch.randint(0, 100, (n,), generator=g).to(dev))  # fmt: skip
    tiny = Split(split.images[:10], split.labels[:10])
    warm = Split(split.images[: 2 * batch], split.labels[: 2 * batch])
    train(config, Cifar100(warm, tiny, tiny))
    barrier.wait()
    t0 = time.time()
    train(config, Cifar100(split, tiny, tiny))
    if dev.type == "cuda":
        torch.cuda.synchronize()
    results.put((t0, time.time()))


def measure(k: int, threads: int, args: argparse.Namespace) -> dict:
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(k), ctx.Queue()
    fixed = (args.preset, args.steps, args.batch_size, args.device, threads)
    procs = [ctx.Process(target=child, args=(*fixed, i, barrier, results)) for i in range(k)]
    for p in procs:
        p.start()
    times = [results.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a training process exited with {p.exitcode}")
    images = args.steps * args.batch_size
    wall = max(end for _, end in times) - min(start for start, _ in times)
    return {
        "aggregate": k * images / wall,
        "per_process": statistics.median(images / (end - start) for start, end in times),
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="vgg08")
    parser.add_argument("--steps", type=int, default=20, help="training steps per process")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 4, 7])
    parser.add_argument("--modes", nargs="+", default=["default", "split"], choices=["default", "split"])
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="sweeps over (mode, K), interleaved; medians shown")
    args = parser.parse_args()

    from common import header

    header("concurrent_runs.py")
    cores = os.cpu_count() or 1
    print(
        f"# {args.preset}, batch {args.batch_size}, {args.steps} steps per process, device {args.device}, "
        f"{cores} cores; random uint8 images; {args.repeats} interleaved sweeps, medians\n",
        flush=True,
    )
    runs: dict[tuple[str, int], list[dict]] = {}
    for sweep in range(args.repeats):
        for mode in args.modes:
            for k in args.ks:
                r = measure(k, max(1, cores // k) if mode == "split" else 0, args)
                runs.setdefault((mode, k), []).append(r)
                print(f"# sweep {sweep + 1}: {mode} K={k}: {r['aggregate']:.1f} images/s", flush=True)
    # the baseline: one process as the worker runs it today (default threads), else the mode's own first K
    first = ("default", 1) if ("default", 1) in runs else next(iter(runs))
    base = statistics.median(r["aggregate"] for r in runs[first])
    print(f"\nbaseline: {first[0]} K={first[1]}, {base:.1f} images/s")
    print(
        f"{'mode':<8} {'K':>2} {'threads/proc':>12} {'aggregate img/s':>16} {'vs base':>7} "
        f"{'per-process img/s':>18} {'wall s':>7}  aggregate of each sweep"
    )
    for mode in args.modes:
        for k in args.ks:
            rs = runs[(mode, k)]
            agg = statistics.median(r["aggregate"] for r in rs)
            threads = max(1, cores // k) if mode == "split" else "all"
            print(
                f"{mode:<8} {k:>2} {threads:>12} {agg:>16.1f} {agg / base:>6.2f}x "
                f"{statistics.median(r['per_process'] for r in rs):>18.1f} "
                f"{statistics.median(r['wall'] for r in rs):>7.1f}  " + ", ".join(f"{r['aggregate']:.0f}" for r in rs)
            )


if __name__ == "__main__":
    main()
