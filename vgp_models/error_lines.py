"""An error as one line, for the places that hold one: a CLI's `error:` line, a run's status message, a log line,
a page's error. Messages often go on below their first line (SQLAlchemy's SQL, pickle's and torch's detail)."""

from __future__ import annotations


def first_line(error: BaseException | str) -> str:
    """The first line of an error's message; '' when it has none."""
    lines = str(error).strip().splitlines()
    return lines[0].rstrip() if lines else ""


def error_line(error: BaseException) -> str:
    """'Type: first line of the message', or the type alone when the message is empty."""
    first = first_line(error)
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
