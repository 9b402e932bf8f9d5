"""dashboard.display: how values are written on a page (here durations; user text kept plain is tested page by
page in test_dashboard_plain_text.py)."""

from __future__ import annotations

import pytest

from dashboard import display


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, "?"),
        (-1, "?"),
        (float("nan"), "?"),
        (0.46, "0.5 s"),
        (45, "45 s"),
        (200, "3 min 20 s"),
        (7500, "2 h 05 min"),
    ],
)
def test_fmt_duration(seconds, text):
    assert display.fmt_duration(seconds) == text
