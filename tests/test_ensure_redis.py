"""`make run`'s Redis bootstrap: start a local redis-server when none answers, else a one-line error."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure_redis.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure(url: str, cwd: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "REDIS_URL": url, **({"PATH": path} if path is not None else {})}
    return subprocess.run([sys.executable, str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_starts_a_local_redis_bound_to_loopback(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    done = ensure(url, tmp_path)
    client = redis.Redis.from_url(url)
    try:
        assert done.returncode == 0, done.stderr
        assert client.ping()
        assert client.config_get("bind")["bind"].split()[0] == "127.0.0.1"
        assert (tmp_path / "var" / "redis" / "redis.pid").exists()
        assert ensure(url, tmp_path).stdout == ""  # a second call finds it answering and starts nothing
    finally:
        client.shutdown(nosave=True)


def test_without_redis_server_says_how_to_install_it(tmp_path: Path) -> None:
    python_only = str(Path(sys.executable).parent)  # PATH without redis-server
    done = ensure(f"redis://127.0.0.1:{free_port()}/0", tmp_path, path=python_only)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install redis-server" in lines[0]
