"""`worker.reconcile` on page loads: the dashboard repairs the queue too, so that runs recover even while no
worker is up to do it (a dead run shows interrupted, a job Redis lost is queued again)."""

from __future__ import annotations

import math
import threading
import time

import streamlit as st

from worker import connection, db
from worker.reconcile import reconcile_quietly
from worker.settings import Settings


@st.cache_resource(show_spinner=False)
def _last_passes() -> tuple[threading.Lock, dict[tuple[str, str, str], float]]:
    return threading.Lock(), {}


def reconcile_on_page_load() -> None:
    """Run worker.reconcile (dead runs interrupted and resumed, jobs Redis lost queued again) at most once per
    VGP_RECONCILE_INTERVAL_S per store and queue, in this server process. Silent: failures are only logged, so a
    page still loads while Redis is down, and the queue is rebuilt on the first page load after it is back."""
    lock, last = _last_passes()
    key = (db.database_url(), connection.redis_url(), connection.queue_name())
    now = time.monotonic()
    try:
        interval = Settings.from_env().reconcile_interval_s
    except ValueError:
        interval = Settings().reconcile_interval_s
    with lock:
        if now - last.get(key, -math.inf) < interval:
            return
        last[key] = now
    reconcile_quietly()
