"""A job's start in its work horse: CPU seconds from the fork to a built model and optimiser, forked from a bare
worker parent (the baseline: every horse imported torch, and torch._dynamo for the first optimiser) and from a
parent that ran `worker.runner.preload_job_modules` once, as a worker now does before its first horse.

Each trial is a fresh `python -m worker`-like process (the parent: worker.runner imported, nothing else) that
forks one child; the child times its own CPU with time.process_time, so the parent's preload is not in it (it is
printed apart: paid once per worker, not per job). Trials alternate bare / preloaded.

  .venv/bin/python bench/job_start.py [--trials 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def horse() -> float:
    """What a run's work horse does before its first step, as CPU seconds of this process."""
    start = time.process_time()
    import torch

    import worker.jobs  # noqa: F401 - the job module RQ imports in the horse
    from vgp_models.config import RunConfig
    from vgp_models.train import build_model, make_optimizer

    config = RunConfig(depth=8, width=8, device="cpu")
    make_optimizer(build_model(config, torch.device("cpu")), config)
    return time.process_time() - start


def trial(preload: bool) -> None:
    """One parent: import worker.runner, preload or not, fork a horse; print 'preload_s horse_s'."""
    from worker import runner

    start = time.process_time()
    if preload:
        runner.preload_job_modules()
    preload_s = time.process_time() - start
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, f"{horse():.3f}".encode())
        os._exit(0)
    os.close(write)
    horse_s = float(os.read(read, 64).decode())
    os.waitpid(pid, 0)
    print(f"{preload_s:.3f} {horse_s:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--trial", choices=("bare", "preloaded"), help=argparse.SUPPRESS)  # one parent, internal
    args = parser.parse_args()
    if args.trial:
        trial(args.trial == "preloaded")
        return 0

    from common import header

    header("job_start")
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "preloaded": []}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for _ in range(args.trials):
        for kind in results:
            done = subprocess.run([sys.executable, __file__, "--trial", kind], capture_output=True, text=True,
                                  env=env, check=True)  # fmt: skip
            preload_s, horse_s = map(float, done.stdout.split())
            results[kind].append((preload_s, horse_s))
    for kind, rows in results.items():
        print(f"{kind:>9}: horse {statistics.median(h for _, h in rows):.2f} s CPU to its optimiser "
              f"(parent's preload, once per worker: {statistics.median(p for p, _ in rows):.2f} s)")  # fmt: skip
    bare = statistics.median(h for _, h in results["bare"])
    preloaded = statistics.median(h for _, h in results["preloaded"])
    print(f"ratio bare / preloaded: {bare / preloaded:.1f}x per job")
    return 0


if __name__ == "__main__":
    sys.exit(main())
