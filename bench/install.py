"""The dev lock (requirements-dev.lock: torch's CUDA build and the rest, about 6 GB installed) into a fresh venv,
the way the Makefile installed it before (pip, `--no-compile`: the baseline) and the way it does now (uv, from a cold
cache: a new UV_CACHE_DIR each time), alternating; wall and machine CPU seconds of each and the ratio.

    .venv/bin/python bench/install.py [--rounds 2]

Needs the package registry (both download every locked wheel) and the venv's uv (`make install`). About a minute
and a half a round on a 2-core machine; one venv on disk at a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
from common import machine, timed  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements-dev.lock"
UV = REPO / ".venv" / "bin" / "uv"


def install_once(tool: str, tmp: Path, log: Path) -> tuple[float, float]:
    """(wall s, machine CPU s) of installing the lock with `tool` into a new venv under `tmp`, removed afterwards."""
    venv, cache = tmp / "venv", tmp / "uv-cache"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    if tool == "pip":  # the Makefile's old install: pip upgraded first (not timed), then the lock
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True, capture_output=True)
        command = [python, "-m", "pip", "install", "-q", "--no-compile", "--require-hashes", "-r", str(LOCK)]
    else:
        command = [str(UV), "pip", "install", "-q", "--python", python, "--require-hashes", "-r", str(LOCK)]
    try:
        wall, cpu, code = timed(command, tmp, log, env={**os.environ, "UV_CACHE_DIR": str(cache)})
        if code != 0:
            sys.exit(f"error: {tool} exited with status {code}:\n{log.read_text()[-3000:]}")
        return wall, cpu
    finally:
        shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="pip then uv, this many times (default 2)")
    args = parser.parse_args()
    if not UV.exists():
        print(f"error: no uv at {UV}; run `make install` first", file=sys.stderr)
        return 1
    print(f"machine: {machine()}")
    print(f"{LOCK.name}: {sum(1 for ln in LOCK.read_text().splitlines() if '==' in ln)} pinned packages")
    seen: dict[str, list[float]] = {"pip": [], "uv": []}
    with tempfile.TemporaryDirectory(prefix="vgp-install-") as tmp:
        for i in range(args.rounds):
            for tool in ("pip", "uv"):
                wall, cpu = install_once(tool, Path(tmp), Path(tmp) / "install.log")
                seen[tool].append(wall)
                print(f"round {i + 1} {tool:3s} {wall:6.1f} s wall  {cpu:6.1f} s machine CPU  ({cpu / wall:.2f} cores)")
    pip, uv = statistics.median(seen["pip"]), statistics.median(seen["uv"])
    print(f"median wall: pip {pip:.1f} s, uv {uv:.1f} s; uv / pip = {uv / pip:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
