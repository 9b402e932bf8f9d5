"""Riding out a database or Redis outage inside a job: retry with backoff, then give up.

A Postgres restart, a failover or a Redis that hangs (SIGSTOP, a half-open connection) must not cost a run
anything: the job keeps what it has to write (an epoch's metrics and checkpoint) in memory and retries the
write for up to VGP_OUTAGE_S (default 300 s), with a log line each time. Only errors that mean "the server did
not answer" are retried; anything else (a constraint, RunSuperseded) is raised at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from vgp_models.error_lines import error_line
from worker.settings import Settings

__all__ = ["FIRST_BACKOFF_S", "MAX_BACKOFF_S", "is_outage", "retrying"]

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0
"""Backoff doubles from FIRST_BACKOFF_S up to this, so a write lands at most this long after the server is back."""

T = TypeVar("T")


def is_outage(e: BaseException) -> bool:
    """Whether `e` says the database or Redis did not answer (refused, reset, timed out), not that it said no."""
    if isinstance(e, OperationalError | InterfaceError | DisconnectionError | RedisConnectionError | RedisTimeoutError):
        return True
    return isinstance(e, DBAPIError) and bool(e.connection_invalidated)


def retrying(what: str, op: Callable[[], T], budget_s: float | None = None) -> T:
    """`op()`, retried on outage errors with backoff until `budget_s` (VGP_OUTAGE_S) has passed; then it raises."""
    budget_s = Settings.from_env().outage_s if budget_s is None else budget_s
    deadline = time.monotonic() + budget_s
    delay, attempt = FIRST_BACKOFF_S, 1
    while True:
        try:
            return op()
        except Exception as e:
            if not is_outage(e) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s failed (attempt %d: %s); retrying in %.1f s, for up to %g s in all",
                        what, attempt, error_line(e)[:250], delay, budget_s)  # fmt: skip
        time.sleep(delay)
        delay, attempt = min(2 * delay, MAX_BACKOFF_S), attempt + 1
