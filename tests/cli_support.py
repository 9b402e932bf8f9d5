"""`python -m worker` run as a subprocess, for the tests of the worker's command line (test_worker_cli.py) and
of `submit --seeds` (test_seeds.py): the environment (a unique queue on Redis database 15, the test database,
the tiny CIFAR folder), the call, and the one-line-error check."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker import connection, db, queue

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/15"
TINY = ["--preset", "vgg08", "--width", "8", "--epochs", "2", "--subset", "64", "--batch-size", "32"]


@pytest.fixture
def cli_env(tmp_path: Path, cifar_dir: Path, database_url: str) -> Iterator[dict[str, str]]:
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}")
    name = f"vgp-test-cli-{uuid.uuid4().hex[:8]}"
    yield {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "VGP_QUEUE": name,
        "VGP_DATA_DIR": str(cifar_dir),
        "VGP_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    q = queue.get_queue(name, connection=connection.get_redis(REDIS_URL))
    for registry in (q.failed_job_registry, q.finished_job_registry, q.canceled_job_registry):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    q.delete(delete_jobs=True)
    db.dispose_engines()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(done: subprocess.CompletedProcess[str], code: int, needle: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
