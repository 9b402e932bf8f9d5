"""dashboard.errors: which failures are expected (shown as one line on the page) and which are bugs."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from dashboard import errors
from vgp_models.config import ConfigError
from worker.connection import QueueError


def test_expected_errors():
    assert errors.is_expected(ConfigError("x"))
    assert errors.is_expected(QueueError("redis down"))
    assert errors.is_expected(OperationalError("SELECT 1", {}, Exception("no such table: runs")))
    assert not errors.is_expected(KeyError("bug"))
    assert errors.first_line(OperationalError("SELECT 1", {}, Exception("boom"))).count("\n") == 0
