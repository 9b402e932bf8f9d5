"""In a real browser: "Why it vanishes" on the Run page of a trained VGG08 and VGG38 (every tab and statistic)
and in Compare with both, every chart drawn and no exception. The runs are headless run folders (forward signal
and weight updates included) imported into the dashboard's store."""

from __future__ import annotations

import pytest

from tests.browser_helpers import open_dashboard
from worker import importer

pytestmark = [pytest.mark.pages, pytest.mark.timeout(400)]
STATISTICS = {"Forward signal": ("Mean", "Share < 0", "Std"), "Weight updates": ("Weight norm", "Relative update"),
              "Gain per layer": ()}  # fmt: skip


def charts_drawn(page, at_least: int) -> None:
    """At least `at_least` Vega charts on the page, each drawn (a canvas or svg inside), and no exception."""
    from playwright.sync_api import expect

    charts = page.locator("[data-testid='stVegaLiteChart']")
    expect(charts.nth(at_least - 1)).to_be_attached(timeout=30_000)
    for i in range(charts.count()):
        if charts.nth(i).is_visible():
            expect(charts.nth(i).locator("canvas, svg").first).to_be_attached(timeout=30_000)
    assert page.locator("[data-testid='stException']").count() == 0


def test_why_it_vanishes_for_vgg08_and_vgg38(reference_results, services):
    from playwright.sync_api import expect

    base, logs = services
    imported = importer.import_folders([reference_results / "demo"]).imported
    assert [i.created for i in imported] == [True, True]  # VGG08 and VGG38, width 8, one epoch each
    with open_dashboard(base, logs) as page:
        for run_id in (1, 2):
            page.goto(f"{base}/run?run={run_id}")
            expect(page.get_by_role("heading", name="Why it vanishes")).to_be_visible(timeout=30_000)
            charts_drawn(page, 3 + 6)  # loss, accuracy, flow; three statistics and their heatmaps
            for tab, options in STATISTICS.items():
                page.get_by_role("tab", name=tab).click()
                panel = page.locator("[role=tabpanel]:visible")
                expect(panel.locator("[data-testid='stVegaLiteChart']")).to_have_count(2, timeout=30_000)
                for option in options:
                    panel.get_by_text(option, exact=True).click()
                    charts_drawn(page, 9)
                expect(panel.locator("text=recorded before")).to_have_count(0)

        page.get_by_role("link", name="Compare", exact=True).click()
        expect(page.get_by_role("heading", name="Why it vanishes")).to_be_visible(timeout=30_000)
        for tab in STATISTICS:
            page.get_by_role("tab", name=tab).click()
            panel = page.locator("[role=tabpanel]:visible")
            expect(panel.locator("[data-testid='stVegaLiteChart']")).to_have_count(1, timeout=30_000)
            charts_drawn(page, 6 + 3)
        expect(panel.get_by_text("median gain per layer")).to_be_visible()
