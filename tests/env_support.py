"""The environment that product code runs in under test: the tests' Redis, a free port, and the variables of a
product process (a test's own migrated database, Redis queue, data and checkpoint folders), set by one context
manager, `product_env`, that the `env` fixture and its local variants share."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from worker import connection, db, queue

REPO = Path(__file__).resolve().parents[1]

# Every test uses Redis database 15 of the local server: the product's default is database 0 (REDIS_URL unset),
# so a developer's own runs there never meet a test's queues or workers. Each test has a queue of
# its own (VGP_QUEUE), so tests running side by side (xdist) share the database without meeting either.
REDIS_URL = "redis://127.0.0.1:6379/15"
DEAD_REDIS_URL = "redis://127.0.0.1:6390/0"  # nothing listens there


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_redis(url: str = REDIS_URL) -> None:
    if not connection.redis_available(url):
        pytest.skip(f"no Redis at {url}")


def make_env(tmp_path: Path, cifar_dir: Path, database_url: str, redis_url: str = REDIS_URL, **extra: str) -> dict:
    """The variables a product process needs: database, Redis and a unique queue, data, checkpoints."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VGP_QUEUE": f"vgp-test-{uuid.uuid4().hex[:8]}",
        "VGP_DATA_DIR": str(cifar_dir),
        "VGP_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        **extra,
    }


def drop_queue(name: str, redis_url: str = REDIS_URL) -> None:
    """Remove a test queue, its jobs and registries from Redis."""
    try:
        redis = connection.get_redis(redis_url)
        q = queue.get_queue(name, connection=redis)
        for registry in (q.failed_job_registry, q.finished_job_registry, q.canceled_job_registry,
                         q.started_job_registry):  # fmt: skip
            for job_id in registry.get_job_ids():
                registry.remove(job_id, delete_job=True)
        q.delete(delete_jobs=True)
    except Exception:  # noqa: BLE001 (a private Redis may already be gone)
        pass


@contextmanager
def product_env(
    tmp_path: Path,
    cifar_dir: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str = REDIS_URL,
    **extra: str,
) -> Iterator[dict[str, str]]:
    """make_env(...) set in this process too, on a migrated database; yields the variables (for the processes a
    test starts). Afterwards the queue and its jobs are dropped and the engines disposed."""
    variables = make_env(tmp_path, cifar_dir, database_url, redis_url, **extra)
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    db.upgrade_database(database_url)
    yield variables
    drop_queue(variables["VGP_QUEUE"], redis_url)  # explicit URL: a test may have pointed REDIS_URL elsewhere
    db.dispose_engines()


@pytest.fixture
def env(tmp_path: Path, cifar_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """This test's product environment (see product_env), on the tests' Redis; the variables as a dict."""
    with product_env(tmp_path, cifar_dir, database_url, monkeypatch) as variables:
        yield variables


@pytest.fixture
def redis_env(env: dict) -> dict:
    """`env`, for a test that needs the Redis server: skips without one."""
    require_redis()
    return env
