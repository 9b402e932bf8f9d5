"""Shared by the browser tests: a Streamlit server and a worker on a temp store, driven by Debian's Chromium.

`services` starts `streamlit run dashboard/server.py` (as the Procfile does) and `python -m worker worker` on a
migrated temp SQLite store, the tiny CIFAR fixture and a unique queue; it skips only when /usr/bin/chromium or
Redis is missing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.env_support import REDIS_URL, free_port
from worker import connection, db, queue

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = ROOT / "docs" / "screenshots"
TAKE_SCREENSHOTS = os.environ.get("VGP_SCREENSHOTS") == "1"  # `make screenshots`; `make test` leaves docs/ alone


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


def send(proc: subprocess.Popen, sig: signal.Signals) -> None:
    """`sig` to the process group `proc` leads when it was started with start_new_session=True (no other group
    can carry its pid), else to `proc` alone."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        if proc.poll() is None:
            proc.send_signal(sig)


def stop(proc: subprocess.Popen) -> None:
    """Stop `proc` and, when it leads a process group, the rest of it: `sh -c "a && b"` does not exec b, so a
    shell's child would outlive the shell."""
    send(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    send(proc, signal.SIGKILL)  # what ignored SIGTERM, and what of the group outlived its leader
    proc.wait()


@pytest.fixture
def services(tmp_path, cifar_dir, database_url, monkeypatch):
    """A migrated temp store, a worker and a Streamlit server sharing it; yields (base URL, log paths)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    if not connection.redis_available(REDIS_URL):
        pytest.skip(f"needs a Redis server at {REDIS_URL}")
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=REDIS_URL,
        VGP_QUEUE=f"vgp-browser-{uuid.uuid4().hex[:8]}",
        VGP_DATA_DIR=str(cifar_dir),
        VGP_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        PYTHONPATH=str(ROOT),
    )
    for key in ("DATABASE_URL", "REDIS_URL", "VGP_QUEUE"):
        monkeypatch.setenv(key, env[key])
    db.upgrade_database(env["DATABASE_URL"])
    port = free_port()
    logs = {name: tmp_path / f"{name}.log" for name in ("streamlit", "worker")}
    procs = {}
    with open(logs["streamlit"], "w") as st_log, open(logs["worker"], "w") as wk_log:
        procs["worker"] = subprocess.Popen(
            [sys.executable, "-m", "worker", "worker"], cwd=ROOT, env=env, stdout=wk_log, stderr=subprocess.STDOUT
        )
        procs["streamlit"] = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.port", str(port),
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
        db.dispose_engines()


def full_height(page, width: int = 1400) -> None:
    """Grow the viewport to the page's content: Streamlit scrolls inside stMain, so full_page shots cut it off."""
    height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    page.set_viewport_size({"width": width, "height": min(max(int(height), 1000), 4000)})
    page.wait_for_timeout(1000)


def shoot(page, name: str) -> None:
    """docs/screenshots/<name> of the whole page, once charts are drawn; only when VGP_SCREENSHOTS=1."""
    if not TAKE_SCREENSHOTS:
        return
    page.mouse.move(0, 0)  # no hover toolbar over a chart
    page.wait_for_timeout(1500)  # let Vega finish drawing
    full_height(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))
    page.set_viewport_size({"width": 1400, "height": 1000})


def dump_logs(page, logs: dict[str, Path]) -> None:
    """On a failure: a full-page screenshot beside the logs, and both logs' tails on stdout."""
    page.screenshot(path=str(logs["worker"].with_name("failure.png")), full_page=True)
    print("--- worker log ---\n" + logs["worker"].read_text()[-4000:])
    print("--- streamlit log ---\n" + logs["streamlit"].read_text()[-4000:])


@contextmanager
def open_dashboard(base: str, logs: dict[str, Path]) -> Iterator:
    """A Chromium page on the dashboard's Launch page; on a failure the page's and services' logs are printed."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=20_000)  # Playwright's 5 s is for a quiet machine; tests run 3 at a time on 2 cores
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(base)
            expect(page.get_by_role("heading", name="Launch a run")).to_be_visible(timeout=30_000)
            # The form's last button: the page's first run has finished. Typing while it still runs (it waits
            # on the registered architectures' count) once left later fields at 0 and blank on a loaded machine.
            expect(page.get_by_role("button", name="Queue run")).to_be_visible(timeout=30_000)
            yield page
        except Exception:
            dump_logs(page, logs)
            raise
        finally:
            browser.close()
