"""An error as one line (vgp_models.error_lines): what CLIs, run statuses, logs and pages show of a failure."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from vgp_models.error_lines import error_line, first_line


def test_the_first_line_drops_what_follows_and_surrounding_space() -> None:
    sql_error = OperationalError("SELECT 1", {}, Exception("database is locked"))
    assert str(sql_error).count("\n") > 0  # SQLAlchemy's [SQL: ...] and background link below the message
    assert first_line(sql_error) == "(builtins.Exception) database is locked"
    assert first_line("\n  disk full \nerrno 28") == "disk full"


def test_an_error_line_names_the_type_and_an_empty_message_leaves_the_type_alone() -> None:
    assert error_line(ValueError("lr must be > 0\n(got -1)")) == "ValueError: lr must be > 0"
    assert first_line(RuntimeError()) == "" and error_line(RuntimeError()) == "RuntimeError"
    assert error_line(KeyError("fine_labels")) == "KeyError: 'fine_labels'"
