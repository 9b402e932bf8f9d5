"""Helpers shared by the bench scripts: the machine line every script prints first, a step timer, the options of
the per-step cost benches and their random batch, the database benches' fresh Postgres database and
temporary SQLite store, and the whole machine's busy CPU seconds around a command (the install and suite benches).

Import from a script in bench/ as `from common import ...` (scripts put bench/ and the repo root on sys.path).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from worker import db


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


def step_cost_options(parser: argparse.ArgumentParser, preset: str, steps: int, pair: str = "(without, with)") -> None:
    """The options every per-step cost bench takes: --preset, --batch-size, --steps per timed block, --rounds of
    ABBA blocks (`pair` names the two kinds of block), --device."""
    parser.add_argument("--preset", default=preset)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=steps, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=4, help=f"ABBA rounds of {pair} blocks")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def random_batch(batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One fixed batch of CIFAR's shape on `device`: random uint8 images and labels (a step's cost does not depend
    on the pixels)."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, 32, 32), dtype=torch.uint8, generator=g).to(device)
    return images, torch.randint(0, 100, (batch_size,), generator=g).to(device)


def postgres_option(parser: argparse.ArgumentParser, default: str) -> None:
    """--postgres: the server a database bench makes its fresh database on (and drops it after)."""
    parser.add_argument(
        "--postgres", default=default,
        help="a Postgres URL whose user may CREATE DATABASE; a fresh database is made and dropped",
    )  # fmt: skip


@contextlib.contextmanager
def temp_sqlite_store() -> Iterator[str]:
    """The URL of a migrated SQLite file in a temporary folder, set as DATABASE_URL for the product's code; the
    product's engines disposed and the folder removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/vgp.db"
        os.environ["DATABASE_URL"] = url
        db.upgrade_database(url)
        try:
            yield url
        finally:
            db.dispose_engines()


@contextlib.contextmanager
def fresh_postgres(admin_url: str) -> Iterator[tuple[str, str]]:
    """(URL, server version) of a new, empty database on `admin_url`'s server, dropped afterwards (its
    connections forced closed, the product's engines disposed first)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"vgp_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        server = str(conn.execute(text("SHOW server_version")).scalar())
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False), server
    finally:
        db.dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def busy_cpu_s() -> float:
    """The machine's busy CPU seconds since boot: user, nice, system, irq, softirq and steal time of every core."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / 100  # USER_HZ is 100 on Linux


def timed(command: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall s, machine CPU s, exit status) of one command (in `env`, default this process's environment), its
    output appended to `log`."""
    wall, cpu = time.monotonic(), busy_cpu_s()
    with open(log, "a") as out:
        code = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    return time.monotonic() - wall, busy_cpu_s() - cpu, code
