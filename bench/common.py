"""Helpers shared by the bench scripts: the machine line every script prints first, and a step timer.

Import from a script in bench/ as `from common import ...` (scripts put bench/ and the repo root on sys.path).
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch


def machine() -> str:
    """CPU model, cores, torch threads, GPU, load average: enough to tell two machines' figures apart."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{platform.machine()} {cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, {gpu}; "
        f"load average {load}"
    )


def header(script: str) -> None:
    """The lines every script prints first: script, UTC time, machine, torch and Python versions."""
    print(f"# bench/{script}  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# machine: {machine()}")
    print(f"# torch {torch.__version__}, python {platform.python_version()}", flush=True)


def time_ms(fn: Callable[[], None], repeats: int, device: torch.device) -> float:
    """Milliseconds per call of fn, over `repeats` calls after the caller's warm-up.

    On CUDA: CUDA events around the calls (one synchronize at the end); elsewhere perf_counter.
    """
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        torch.cuda.synchronize()  # sync point: the events' times are final only now
        return start.elapsed_time(end) / repeats
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) * 1000 / repeats


def median(values: list[float]) -> float:
    return statistics.median(values)
