"""A newcomer's first minutes in a real browser (issue 19): the first page of an empty database offers the shipped
reference results, which open Compare on VGG08 against VGG38 and list run names; Launch estimates Table 1 from
them; a 1-epoch subset run of VGG08, named by its settings once, does not replace the reference VGG08 on Results
or in Compare's default pair, and Results says which run each row uses and lets the user pick another; a
finished depth sweep's picker says so.

`services` (tests/browser_helpers.py) runs Streamlit and a worker on a temp store and the tiny CIFAR fixture, with
the repository's own results/ as the reference results. Skipped only without /usr/bin/chromium or Redis.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest

from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, open_dashboard
from tests.test_browser import RUN_TIMEOUT_MS, download, fill

pytestmark = [pytest.mark.slow, pytest.mark.pages, pytest.mark.timeout(600)]

VGG08 = "#1 VGG08 lr 1e-3 · 8 epochs · bf16"  # results/table1-cpu-8ep-bf16 (#1-7), then why-cpu-2ep-5k-fp32 (#8-11)
VGG38 = "#6 VGG38 lr 1e-3 · 8 epochs · bf16"
SMOKE = "#12 VGG08 lr 1e-3 · 1 epoch · 64 images · batch 32"


def chosen_in_compare(page) -> list[str]:
    """The run names in Compare's "Runs" picker."""
    from playwright.sync_api import expect

    tags = page.locator(".st-key-compare_runs [data-tag]")
    expect(tags.first).to_be_visible(timeout=30_000)
    return sorted(tag.get_attribute("aria-label") for tag in tags.all())


def keep_only(page, key: str, option: str) -> None:
    """Empty a multiselect ("Clear all"), then pick `option` alone."""
    from playwright.sync_api import expect

    widget = page.locator(f".st-key-{key}")
    widget.get_by_role("button", name="Clear all").click()
    expect(widget.locator("[data-tag]")).to_have_count(0, timeout=10_000)
    widget.locator("input").click()
    page.get_by_role("option", name=option, exact=True).click()
    widget.locator("input").press("Escape")
    expect(widget.locator("[data-tag]")).to_have_count(1, timeout=10_000)


def test_reference_results_first_then_a_smoke_run_leaves_table1_alone(services):
    from playwright.sync_api import expect, sync_playwright

    base, logs = services
    with open_dashboard(base, logs) as page:
        # 19.2: the first page of an empty database offers the reference results; loading opens Compare.
        page.get_by_role("button", name="Load the reference results").click()
        expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=60_000)
        expect(page.get_by_text("Imported 11 of 11 run(s).")).to_be_visible(timeout=30_000)
        outcome = page.locator("[data-testid='stText']").first.inner_text()
        assert f"{VGG08}: imported" in outcome and "/" not in outcome  # 19.7: run names, no server paths
        assert chosen_in_compare(page) == [f"{VGG08} (completed)", f"{VGG38} (completed)"]
        expect(page.get_by_text("Per-run heatmap colour scales")).to_be_visible()  # 19.6: shared by default

        # 19.3: Launch estimates from the CPU runs just loaded (fp32 VGG08 from the why runs), and says so; 19.7.
        page.get_by_role("link", name="Launch", exact=True).click()
        estimate = re.compile(r"Reproduce Table 1, 100 epochs: about .* on this cpu \(from 1 run of VGG08 in fp32")
        expect(page.get_by_text(estimate)).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Optimiser", exact=True).first).to_be_visible()  # the section and the field
        expect(page.get_by_text("Optimizer", exact=True)).to_have_count(0)

        # 19.1 and 19.4: a smoke run of Table 1's VGG08 row, named once by what differs.
        fill(page, p_epochs="1", p_batch_size="32", p_subset="64")
        page.get_by_role("button", name="VGG08 · lr 1e-3").click()
        expect(page.get_by_text("Queued run #12")).to_be_visible(timeout=30_000)
        page.get_by_role("link", name="Open run #12").click()
        expect(page.get_by_text("Epoch 1 of 1 · completed")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(page.get_by_role("heading", name=SMOKE, exact=True)).to_be_visible()

        page.goto(f"{base}/results")  # not the sidebar link: the Run page may be redrawing itself, done
        expect(page.get_by_role("heading", name="Results: Table 1")).to_be_visible(timeout=30_000)
        expect(page.get_by_text(re.compile(r"^Each row uses, among the runs of its network"))).to_be_visible()
        results = pd.read_csv(io.StringIO(download(page, "Results CSV")))
        assert results["run_id"].tolist() == [1, 6, 2, 7, 4, 3, 5]  # the reference rows, not the smoke run
        assert results.loc[0, "run"] == VGG08 and results.loc[0, "subset"] == "full"
        assert results.loc[0, "precision"] == "bf16" and results.loc[0, "epochs_run"] == 8
        assert results.loc[0, "indep_val_acc_pct"] == "47.8–49.1"

        page.get_by_text("Choose the run of each row").click()  # the user may pick the smoke run instead
        page.locator(".st-key-results_pick_0").click()
        page.get_by_role("option", name=SMOKE).click()
        expect(page.locator(".st-key-results_pick_0 input")).to_have_value(SMOKE, timeout=30_000)
        expect(page.get_by_text(f"Your choice, not the rule's: VGG08 lr 1e-3: {SMOKE}.")).to_be_visible(timeout=30_000)
        assert pd.read_csv(io.StringIO(download(page, "Results CSV")))["run_id"].iloc[0] == 12

        # A depth sweep's picker tells its true status once it finished (19.6).
        page.get_by_role("link", name="Depth sweep", exact=True).click()
        fill(page, sweep_batch_size="4", sweep_seeds="1")
        keep_only(page, "sweep_depths", "8")
        keep_only(page, "sweep_cures", "none")
        page.get_by_role("button", name="Queue sweep").click()
        picker = page.locator(".st-key-sweep_chosen input")
        expect(picker).to_have_value(re.compile(r"^#1 · \d{4}-"))  # id and time: no status to go stale
        badge = page.get_by_role("paragraph").filter(has=page.get_by_role("img", name="check_circle icon"))
        expect(badge).to_have_text(re.compile(r"completed\s*$"), timeout=RUN_TIMEOUT_MS)
        assert page.locator("[data-testid='stException']").count() == 0

    # A new session: Compare's default pair follows the rule too (the reference VGG08 and VGG38).
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/compare")
            expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=30_000)
            assert chosen_in_compare(page) == [f"{VGG08} (completed)", f"{VGG38} (completed)"]
        finally:
            browser.close()
