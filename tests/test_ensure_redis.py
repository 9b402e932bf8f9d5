"""`make run`'s Redis bootstrap: start a local redis-server when none answers, else a one-line error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.env_support import free_port

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure_redis.py"


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


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("redis-server") is None, reason="needs root and redis-server")
def test_a_missing_redis_server_is_installed_with_apt_then_started(tmp_path: Path) -> None:
    """A PATH without redis-server but with an apt-get that 'installs' it (a link to the real one): the script
    installs through apt-get, then starts the server it installed. Debian's apt itself is not under test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    apt_log = tmp_path / "apt.log"
    apt_get = bin_dir / "apt-get"
    link = f"{shutil.which('ln')} -sf {shutil.which('redis-server')} {bin_dir}/redis-server"
    apt_get.write_text(f'#!/bin/sh\necho "$@" >> {apt_log}\n{link}\n')
    apt_get.chmod(0o755)
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    done = ensure(url, tmp_path, path=f"{bin_dir}:{Path(sys.executable).parent}")
    client = redis.Redis.from_url(url)
    try:
        assert done.returncode == 0, done.stderr
        assert apt_log.read_text().split() == ["install", "-y", "-q", "redis-server"]
        assert client.ping()
    finally:
        client.shutdown(nosave=True)


def test_without_redis_url_the_local_redis_gets_a_generated_password_kept_in_var(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    run = lambda: subprocess.run([sys.executable, str(SCRIPT), "--url"], cwd=tmp_path, env=env,  # noqa: E731
                                 capture_output=True, text=True, timeout=60, check=True).stdout.strip()  # fmt: skip
    url = run()
    password_file = tmp_path / "var" / "redis.password"
    password = password_file.read_text().strip()
    assert len(password) >= 32 and url == f"redis://:{password}@127.0.0.1:6379/0"
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert run() == url  # kept: the next `make run` finds the same Redis with the same password


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_redis_it_starts_requires_the_password_and_hides_it_from_ps(tmp_path: Path) -> None:
    port = free_port()
    password = "s3cret-for-this-test"
    done = ensure(f"redis://:{password}@127.0.0.1:{port}/0", tmp_path)
    client = redis.Redis(host="127.0.0.1", port=port, password=password)
    try:
        assert done.returncode == 0, done.stderr
        assert client.ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=port).ping()
        pid = int((tmp_path / "var" / "redis" / "redis.pid").read_text())
        assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert (tmp_path / "var" / "redis" / "redis.conf").stat().st_mode & 0o777 == 0o600
    finally:
        client.shutdown(nosave=True)
