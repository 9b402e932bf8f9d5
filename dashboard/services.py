"""The services around the app, as a page sees them: a database outage banner, whether Redis takes runs, and
the queue brought back in step with the store (worker.reconcile) on page loads."""

from __future__ import annotations

import math
import threading
import time

import streamlit as st

from dashboard import display
from dashboard.errors import is_expected
from worker import connection, db, reconcile
from worker.settings import Settings


def database_banner() -> None:
    """While the database does not answer, one warning on top of every page (each page then shows one error
    line for what it could not read, never a traceback)."""
    if not db.database_available():
        st.warning(
            display.plain(
                f"The database ({db.safe_database_url()}) is not answering. Running jobs keep training and write "
                "their epochs once it is back (they wait up to VGP_OUTAGE_S, 300 s by default); reload to retry."
            ),
            icon=":material/cloud_off:",
        )


def queue_available() -> bool:
    """Whether Redis answers, so that a run can be queued."""
    try:
        return bool(connection.redis_available())
    except Exception as error:  # noqa: BLE001
        if is_expected(error):
            return False
        raise


@st.cache_resource(show_spinner=False)
def _last_sweeps() -> tuple[threading.Lock, dict[tuple[str, str, str], float]]:
    return threading.Lock(), {}


def keep_queue_in_step() -> None:
    """Run worker.reconcile (dead runs interrupted and resumed, jobs Redis lost queued again) at most once per
    VGP_RECONCILE_INTERVAL_S per store and queue, in this server process. Silent: failures are only logged, so a
    page still loads while Redis is down, and the queue is rebuilt on the first page load after it is back."""
    lock, last = _last_sweeps()
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
    reconcile.reconcile_quietly()
