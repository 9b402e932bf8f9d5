"""Where the queue lives: the Redis URL, its clients, whether it answers, and the one line that says it does not.

Imports `redis` but never `rq`, so that the store's callers can reach Redis without RQ.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlsplit, urlunsplit

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from worker.store import squash

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
"""Used when REDIS_URL is unset."""

REDIS_TIMEOUT_S = 5.0
"""Every Redis client's connect and command timeout (RQ raises its worker's own above its blocking dequeue)."""

DEFAULT_QUEUE_NAME = "vgp"
"""Used when VGP_QUEUE is unset."""


class QueueError(RuntimeError):
    """Redis or RQ refused; the message is one line. `run_id` is set when a run row was already written."""

    def __init__(self, message: str, run_id: int | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id


def redis_url(url: str | None = None) -> str:
    return url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL


def safe_redis_url(url: str | None = None) -> str:
    """The URL without its password, fit for messages and logs."""
    parts = urlsplit(redis_url(url))
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def queue_name(name: str | None = None) -> str:
    """The run queue's name in Redis (VGP_QUEUE, default "vgp"); two installs sharing a Redis differ by it."""
    return name or os.environ.get("VGP_QUEUE") or DEFAULT_QUEUE_NAME


_CLIENTS: dict[str, Redis] = {}
_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    # A work horse must not inherit _LOCK held at the moment of the fork (the child's copy is never released).
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def new_redis(url: str | None = None) -> Redis:
    """A client that fails instead of waiting forever: a Redis that hangs (stopped, or a half-open connection
    after a network fault) raises redis' TimeoutError after REDIS_TIMEOUT_S, on connect and on every command."""
    return Redis.from_url(
        redis_url(url), socket_connect_timeout=REDIS_TIMEOUT_S, socket_timeout=REDIS_TIMEOUT_S, health_check_interval=30
    )


def get_redis(url: str | None = None) -> Redis:
    """One cached `new_redis` client per URL (REDIS_URL by default); connects lazily, fails fast."""
    url = redis_url(url)
    with _LOCK:
        if url not in _CLIENTS:
            _CLIENTS[url] = new_redis(url)
        return _CLIENTS[url]


def redis_available(url: str | None = None, timeout_s: float = 0.5) -> bool:
    """Whether Redis answers a ping within `timeout_s`; never raises."""
    try:
        client = Redis.from_url(redis_url(url), socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 (any failure means unavailable)
        return False


def redis_unreachable_message(cause: str | None = None) -> str:
    """The one line, everywhere, for a Redis that does not answer; `cause` (an exception's name) in brackets."""
    because = f" ({cause})" if cause else ""
    return f"Redis at {safe_redis_url()} is not reachable{because}; start it (make redis) or set REDIS_URL"


def require_redis() -> None:
    """QueueError (`redis_unreachable_message`) unless Redis answers a ping: checked before anything is written."""
    if not redis_available():
        raise QueueError(redis_unreachable_message())


def redis_error_line(e: Exception) -> str:
    """One line for a failed Redis call: unreachable, or reachable but refusing."""
    if isinstance(e, (RedisConnectionError, RedisTimeoutError)):
        return redis_unreachable_message(type(e).__name__)
    return squash(f"Redis at {safe_redis_url()} refused: {type(e).__name__}: {e}")
