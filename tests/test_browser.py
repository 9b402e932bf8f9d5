"""End to end in a real browser: a custom run from the form, watched on its Run page until it completes; then
"Reproduce Table 1" (seven tiny runs in one group) watched on Runs, and Compare and Results with their CSVs.

`services` (tests/browser_helpers.py) starts `streamlit run dashboard/app.py` and `python -m worker worker` on a
temp SQLite store, the tiny CIFAR fixture and a unique queue; Playwright drives Debian's Chromium. With
VGP_SCREENSHOTS=1 (`make screenshots`) they save docs/screenshots/ (launch, runs, run, compare, results).
Skipped only without /usr/bin/chromium or Redis.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.browser_helpers import open_dashboard, shoot
from vgp_models.config import TABLE1
from worker import db, schema, store

RUN_TIMEOUT_MS = 180_000  # a 2-epoch VGG08 on 64 images, plus the work horse importing torch, on 2 slow cores

pytestmark = [pytest.mark.pages, pytest.mark.timeout(400)]


def fill(page, **values: str) -> None:
    """Type into keyed widgets (Streamlit puts `st-key-<key>` on a keyed widget's container); Tab commits."""
    for key, value in values.items():
        field = page.locator(f".st-key-{key} input")
        field.fill(value)
        field.press("Tab")


def test_launch_and_watch_a_run(services):
    from playwright.sync_api import expect

    base, logs = services
    with open_dashboard(base, logs) as page:
        fill(page, epochs="2", batch_size="32", subset="64", name="smoke")  # the custom form's fields
        page.get_by_role("button", name="Queue run").click()
        expect(page.get_by_text("Queued run #1")).to_be_visible(timeout=30_000)

        page.get_by_role("link", name="Open run #1").click()
        expect(page).to_have_url(f"{base}/run?run=1", timeout=30_000)
        # The progress text reads "Epoch 2 of 2 · completed · trained for ..." once the run is done.
        expect(page.get_by_text("Epoch 2 of 2 · completed")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        badge = page.get_by_role("paragraph").filter(has=page.get_by_role("img", name="check_circle icon"))
        expect(badge).to_have_text(re.compile(r"completed\s*$"), timeout=10_000)  # icon ligature, then status
        charts = page.locator("[data-testid='stVegaLiteChart']")
        expect(charts).to_have_count(3 + 1 + 6, timeout=30_000)  # loss, accuracy, flow; steps; why: 3 and heatmaps
        shoot(page, "run.png")
        assert page.locator("[data-testid='stException']").count() == 0

    with db.session_scope() as session:
        run = store.get_run(session, 1)
        assert run.status == schema.RunStatus.COMPLETED, run.reason
        assert run.name == "smoke" and run.epochs_done == 2
        assert run.config["subset"] == 64 and run.config["batch_size"] == 32


def statuses() -> list[str]:
    with db.session_scope() as session:
        return [run.status.value for run in store.list_runs(session)]


def wait_until(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}: {statuses()}")
        time.sleep(0.5)


def some_done_one_going() -> bool:
    """A moment for the Runs screenshot: a run completed and another running (or, if missed, all done)."""
    now = set(statuses())
    return "completed" in now and ("running" in now or now == {"completed"})


def download(page, button: str) -> str:
    """Click a download button; the downloaded file's text."""
    with page.expect_download(timeout=30_000) as info:
        page.get_by_role("button", name=button).click()
    return Path(info.value.path()).read_text()


@pytest.mark.slow
def test_reproduce_table1_then_compare_and_results(services):
    from playwright.sync_api import expect

    base, logs = services
    with open_dashboard(base, logs) as page:
        fill(page, p_epochs="1", p_batch_size="32", p_subset="32")  # the presets' settings
        page.get_by_role("button", name="Reproduce Table 1").click()
        expect(page.get_by_text(re.compile(r"Queued 7 runs as group “Table 1 · "))).to_be_visible(timeout=30_000)
        shoot(page, "launch.png")

        page.get_by_role("link", name="Watch them on Runs").click()
        expect(page.get_by_role("heading", name="Runs")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("7 of 7 runs")).to_be_visible(timeout=30_000)  # filtered on the new group
        wait_until(some_done_one_going, RUN_TIMEOUT_MS / 1000, "a run done and one running")
        shoot(page, "runs.png")  # some done, the rest running or queued
        wait_until(lambda: statuses() == ["completed"] * 7, RUN_TIMEOUT_MS / 1000, "all seven runs")
        # The live table notices by itself (no reload): its caption drops "refreshing while runs are active".
        expect(page.get_by_text("7 of 7 runs", exact=True)).to_be_visible(timeout=10_000)

        page.get_by_role("link", name="Compare", exact=True).click()
        expect(page.get_by_role("heading", name="Compare runs")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Vanishing gradients")).to_be_visible(timeout=30_000)  # VGG38, beside VGG08
        expect(page.locator("[data-testid='stVegaLiteChart']")).to_have_count(6 + 1 + 3, timeout=30_000)  # + steps, why
        epochs_csv = download(page, "Epochs CSV")
        gradients_csv = download(page, "Gradients CSV")
        steps_csv = download(page, "Steps CSV")
        shoot(page, "compare.png")

        page.get_by_role("link", name="Results", exact=True).click()
        expect(page.get_by_role("heading", name="Results: Table 1")).to_be_visible(timeout=30_000)
        expect(page.locator("[data-testid='stDataFrame']").first).to_be_visible(timeout=30_000)  # one per tab
        results_csv = download(page, "Results CSV")
        expect(page.locator("[data-testid='stVegaLiteChart']")).to_have_count(1, timeout=30_000)
        shoot(page, "results.png")
        assert page.locator("[data-testid='stException']").count() == 0

    epochs = pd.read_csv(io.StringIO(epochs_csv))
    assert list(epochs.columns) == ["run_id", "run", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                                    "seconds"]  # fmt: skip
    assert sorted(epochs["run_id"]) == [1, 2] and set(epochs["epoch"]) == {1}  # VGG08 and VGG38, one epoch each
    grads = pd.read_csv(io.StringIO(gradients_csv))
    assert grads.groupby("run_id").size().to_dict() == {1: 9, 2: 39}  # every weight of both nets
    assert grads["layer"].iloc[0] == "input_conv_conv_0" and grads["layer"].iloc[8] == "logit_linear_layer"
    steps = pd.read_csv(io.StringIO(steps_csv))  # 32 images at batch 32: one step an epoch, recorded by the job
    assert steps[["run_id", "step", "epoch"]].values.tolist() == [[1, 1, 1], [2, 1, 1]] and steps["loss"].notna().all()
    results = pd.read_csv(io.StringIO(results_csv))
    assert results["model"].tolist() == [row.model for row in TABLE1]
    assert results["run_id"].tolist() == [1, 2, 3, 4, 5, 6, 7] and (results["epochs_run"] == 1).all()
    assert results["report_val_acc_pct"].tolist() == [row.val_acc for row in TABLE1]
