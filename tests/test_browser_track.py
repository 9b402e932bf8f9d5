"""In a real browser: a tracked run (vgp_models.track, the user's own loop in this process) shows on its Run page
as running while it trains, and the page's Cancel stops the loop at its next step.

`services` (tests/browser_helpers.py) starts the dashboard on a temp store; Playwright drives Debian's Chromium.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.browser_helpers import open_dashboard
from tests.track_support import loop_until_cancelled
from worker import db, store
from worker.schema import RunStatus
from worker.tracking import DatabaseSink

pytestmark = [pytest.mark.pages, pytest.mark.timeout(400)]


def test_watch_and_cancel_a_tracked_run(services):
    from playwright.sync_api import expect

    base, logs = services
    sink = DatabaseSink(poll_s=0.2)
    thread, outcome = loop_until_cancelled("my own net", sink, pause_s=0.02, config={"lr": 0.1})
    try:
        with open_dashboard(base, logs) as page:
            while sink.run_id is None:
                time.sleep(0.05)
            page.goto(f"{base}/run?run={sink.run_id}")
            badge = page.get_by_role("paragraph").filter(has=page.get_by_role("img", name="autorenew icon"))
            expect(badge).to_have_text(re.compile(r"running\s*$"), timeout=60_000)
            expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_visible(timeout=60_000)  # epochs came
            page.get_by_role("button", name="Cancel run").click()
            thread.join(60)
            assert not thread.is_alive() and "cancelled from the dashboard" in str(outcome["error"])
            badge = page.get_by_role("paragraph").filter(has=page.get_by_role("img", name="cancel icon"))
            expect(badge).to_have_text(re.compile(r"cancelled\s*$"), timeout=60_000)
            expect(page.get_by_role("button", name="Resume")).to_have_count(0)  # a tracked run has no job
            assert page.locator("[data-testid='stException']").count() == 0
    finally:
        thread.join(30)
    with db.session_scope() as session:
        assert store.require_run(session, sink.run_id).status is RunStatus.CANCELLED
