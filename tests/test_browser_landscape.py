"""The Loss landscape page in a real browser: the landscapes of a VGG08 and a VGG38 run (2D) and a 1D slice drawn by
Vega in Chromium, the chosen one and the comparison, without an exception on the page or in its console."""

from __future__ import annotations

import pytest

from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, dump_logs
from tests.test_dashboard_landscape import stored_landscape
from vgp_models.config import RunConfig
from vgp_models.landscape_config import LandscapeConfig
from worker import db, store

pytestmark = [pytest.mark.pages, pytest.mark.timeout(300)]


def test_landscape_charts_draw_without_an_exception(services) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, logs = services
    with db.session_scope() as s:
        runs = {p: store.create_run(s, RunConfig.from_preset(p, epochs=1), store.RunMeta(name=p)).id
                for p in ("vgg08", "vgg38")}  # fmt: skip
    stored_landscape(LandscapeConfig(run_id=runs["vgg08"], points=5))
    stored_landscape(LandscapeConfig(run_id=runs["vgg38"], points=5), scale=5.0)
    stored_landscape(LandscapeConfig(run_id=runs["vgg38"], dims=1, points=9))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "vega" in m.text.lower() else None)
        try:
            page.goto(f"{base}/landscape", timeout=120_000)
            main = page.locator("[data-testid='stMain']")
            expect(main.get_by_role("heading", name="Loss landscape")).to_be_visible(timeout=60_000)
            expect(main.get_by_role("heading", name="Compare landscapes")).to_be_visible(timeout=60_000)
            # the chosen 1D slice (two charts in one), the comparison: two contours, then the 1D curves
            expect(main.locator(".vega-embed")).to_have_count(3, timeout=60_000)
            expect(main.locator(".vega-embed svg, .vega-embed canvas")).to_have_count(3, timeout=60_000)
            page.wait_for_timeout(1500)  # let Vega finish drawing
            assert page.locator("[data-testid='stException']").count() == 0
            assert errors == []  # no uncaught exception, no error from Vega
        except Exception:
            dump_logs(page, logs)
            raise
        finally:
            browser.close()
