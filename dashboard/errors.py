"""Expected failures (a bad setting, the database or Redis away, a run gone) shown as one error line on the page
instead of a traceback; anything else is a bug and is raised."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from dashboard.display import plain
from vgp_models import error_lines
from vgp_models.config import ConfigError
from worker import connection, db, store


def first_line(error: BaseException | str) -> str:
    """The first line of an error's message (SQLAlchemy appends SQL and a URL on later lines), else its type."""
    return error_lines.first_line(error) or type(error).__name__


def show_error(error: BaseException | str, prefix: str = "") -> None:
    """One `st.error` line for a failure the user can act on, instead of a traceback."""
    hinted = bool(db.migration_hint(error))  # a table is missing: append our hint (Markdown, ours)
    st.error(plain(prefix + first_line(error)) + (db.MIGRATE_HINT if hinted else ""), icon=":material/error:")


def is_expected(error: BaseException) -> bool:
    """Failures of configuration or of the services around the app, not bugs: shown as one line."""
    if isinstance(error, (ConfigError, SQLAlchemyError, OSError, connection.QueueError, store.RunNotFound)):
        return True
    # redis' own exception classes, without importing redis here.
    return any(cls.__module__.startswith("redis") for cls in type(error).__mro__)


@contextmanager
def guard(prefix: str = "") -> Iterator[None]:
    """Run a block; an expected failure becomes one `st.error` line and stops the page (or fragment)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - re-raised unless expected
        if not is_expected(error):
            raise
        show_error(error, prefix)
        st.stop()
