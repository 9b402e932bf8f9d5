"""End to end in a real browser: launch a tiny run from the form, watch the Run page until it completes.

Starts `streamlit run dashboard/app.py` and `python -m worker worker` on a temp SQLite store, the tiny
CIFAR fixture and a unique queue, then drives Debian's Chromium with Playwright. Screenshots go to
docs/screenshots/ (launch.png, run.png, runs.png). Skipped only when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from worker import queue, store

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = ROOT / "docs" / "screenshots"
REDIS_URL = "redis://127.0.0.1:6379/0"
RUN_TIMEOUT_MS = 180_000  # a 2-epoch VGG08 on 64 images, plus the work horse importing torch, on 2 slow cores

pytestmark = pytest.mark.timeout(400)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer {url} in {timeout_s} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def services(tmp_path, cifar_dir, monkeypatch):
    """A migrated temp store, a worker and a Streamlit server sharing it; yields the app's base URL."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    if not queue.redis_available(REDIS_URL):
        pytest.skip(f"needs a Redis server at {REDIS_URL}")
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'vgp.db'}",
        REDIS_URL=REDIS_URL,
        VGP_QUEUE=f"vgp-browser-{uuid.uuid4().hex[:8]}",
        VGP_DATA_DIR=str(cifar_dir),
        VGP_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        PYTHONPATH=str(ROOT),
    )
    for key in ("DATABASE_URL", "REDIS_URL", "VGP_QUEUE"):
        monkeypatch.setenv(key, env[key])
    store.upgrade_database(env["DATABASE_URL"])
    port = free_port()
    logs = {name: tmp_path / f"{name}.log" for name in ("streamlit", "worker")}
    procs = {}
    with open(logs["streamlit"], "w") as st_log, open(logs["worker"], "w") as wk_log:
        procs["worker"] = subprocess.Popen(
            [sys.executable, "-m", "worker", "worker"], cwd=ROOT, env=env, stdout=wk_log, stderr=subprocess.STDOUT
        )
        procs["streamlit"] = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer"],
            cwd=ROOT, env=env, stdout=st_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/_stcore/health", procs["streamlit"], logs["streamlit"])
        yield base, logs
    finally:
        for proc in procs.values():
            stop(proc)
        queue.get_queue(env["VGP_QUEUE"]).delete(delete_jobs=True)
        store.dispose_engines()


def full_height(page) -> None:
    """Grow the viewport to the page's content: Streamlit scrolls inside stMain, so full_page shots cut it off."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": min(max(int(height), 1000), 4000)})
    page.wait_for_timeout(1000)


def test_launch_and_watch_a_run(services):
    from playwright.sync_api import expect, sync_playwright

    base, logs = services
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(base)
            expect(page.get_by_role("heading", name="Launch a run")).to_be_visible(timeout=30_000)
            for label, value in (("Epochs", "2"), ("Batch size", "32"), ("Subset", "64"), ("Name (optional)", "smoke")):
                field = page.get_by_label(label, exact=True)
                field.fill(value)
                field.press("Tab")
            page.get_by_role("button", name="Queue run").click()
            expect(page.get_by_text("Queued run #1")).to_be_visible(timeout=30_000)
            page.mouse.move(0, 0)
            page.screenshot(path=str(SCREENSHOTS / "launch.png"))

            page.get_by_role("link", name="Open run #1").click()
            expect(page).to_have_url(f"{base}/run?run=1", timeout=30_000)
            # The progress text reads "Epoch 2 of 2 · completed · trained for ..." once the run is done.
            expect(page.get_by_text("Epoch 2 of 2 · completed")).to_be_visible(timeout=RUN_TIMEOUT_MS)
            badge = page.get_by_role("paragraph").filter(has=page.get_by_role("img", name="check_circle icon"))
            expect(badge).to_have_text(re.compile(r"completed\s*$"), timeout=10_000)  # icon ligature, then status
            charts = page.locator("[data-testid='stVegaLiteChart']")
            expect(charts).to_have_count(3, timeout=30_000)
            page.mouse.move(0, 0)  # no hover toolbar over a chart
            page.wait_for_timeout(2000)  # let Vega finish drawing
            full_height(page)
            page.screenshot(path=str(SCREENSHOTS / "run.png"))
            assert page.locator("[data-testid='stException']").count() == 0

            page.set_viewport_size({"width": 1400, "height": 700})
            page.get_by_role("link", name="Runs", exact=True).click()
            expect(page.get_by_role("heading", name="Runs")).to_be_visible(timeout=30_000)
            expect(page.locator("[data-testid='stDataFrame']")).to_be_visible(timeout=30_000)
            page.mouse.move(0, 0)
            page.wait_for_timeout(1000)
            page.screenshot(path=str(SCREENSHOTS / "runs.png"))
        except Exception:
            page.screenshot(path=str(logs["worker"].with_name("failure.png")), full_page=True)
            print("--- worker log ---\n" + logs["worker"].read_text()[-4000:])
            print("--- streamlit log ---\n" + logs["streamlit"].read_text()[-4000:])
            raise
        finally:
            browser.close()

    with store.session_scope() as session:
        run = store.get_run(session, 1)
        assert run.status == store.RunStatus.COMPLETED, run.reason
        assert run.name == "smoke" and run.epochs_done == 2
        assert run.config["subset"] == 64 and run.config["batch_size"] == 32
