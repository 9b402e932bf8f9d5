"""The services around the app while they are down, as a page sees them: a banner while the database does not
answer, and whether Redis takes runs (the pages that queue something grey out their buttons without it)."""

from __future__ import annotations

import streamlit as st

from dashboard import display
from dashboard.errors import is_expected
from worker import connection, db


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
