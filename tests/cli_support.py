"""Command lines run as subprocesses from the repository's root (`python -m worker`, `python -m vgp_models`,
`python -m alembic`), for the tests of the command lines, and the one-line-error check."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from subprocess import CompletedProcess

import pytest

from tests.env_support import REPO

TINY = ["--preset", "vgg08", "--width", "8", "--epochs", "2", "--subset", "64", "--batch-size", "32"]


def run_module(module: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
    """`python -m module *args` from the repository's root, in `env` (default: this process's environment);
    the finished process, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        env=os.environ if env is None else env,
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m worker *args` in this process's environment plus `env` (e.g. the `env` fixture's variables)."""
    return run_module("worker", *args, env={**os.environ, **env})


def in_process(main: Callable[[list[str]], int], capsys: pytest.CaptureFixture, *args: str) -> CompletedProcess[str]:
    """A command line's `main(args)` run in this process (no interpreter to start, torch or not): its exit status and
    output, as `run_module` would give them. For the many error cases of a command whose entry is tested once as a
    process."""
    try:
        code = main(list(map(str, args)))
    except SystemExit as e:  # argparse's own exit
        code = e.code
    out = capsys.readouterr()
    return CompletedProcess(list(args), code, out.out, out.err)


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
