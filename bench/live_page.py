"""CPU of an open dashboard page while its run is live: the Streamlit server and the browser, per second.

A page showing an active run reruns its live fragment every `dashboard.statuses.LIVE_S` (1 s) for as long as it
is open. Streamlit's default then ends every rerun with a full `gc.collect(2)` (`runner.postScriptGC`); VGP Lab's
.streamlit/config.toml turns it off. This script starts `streamlit run dashboard/server.py` on a temp SQLite store
holding a running VGG38-sized run that moves on as a job moves it (bench/run_page_queries.py's LiveRun: points
every 2 s, an epoch every EPOCH_EVERY s), opens the Run page and the Runs page in Debian's headless Chromium, and
after a warm-up counts over SECONDS s the CPU of the server's process tree and of the browser's (Playwright's
driver and Chromium: this script's children), with the server's memory (RSS) before and after. Twice per trial,
alternating:

  gc on    STREAMLIT_RUNNER_POST_SCRIPT_GC=true: Streamlit's default (the baseline)
  gc off   the repository's config.toml, as `make run` serves it

and prints CPU seconds per second of an open page for each and their ratio.

  .venv/bin/python bench/live_page.py [--seconds 30] [--trials 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
from common import header, temp_sqlite_store  # noqa: E402
from run_page_queries import LiveRun  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
EPOCH_EVERY = 20  # seconds between two epochs recorded
WARM_UP_S = 10
TICK_S = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """`root` and every process below it."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def cpu_s(root: int, skip_root: bool = False) -> float:
    """User + system CPU seconds of `root`'s process tree so far (without `root` itself when `skip_root`)."""
    total = 0
    for pid in tree(root)[1 if skip_root else 0 :]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK_S


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, post_script_gc: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, VGP_QUEUE="vgp-bench-live-page")
    if post_script_gc:
        env["STREAMLIT_RUNNER_POST_SCRIPT_GC"] = "true"
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/server.py", "--server.port", str(port),
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                return server, base
        except OSError:
            time.sleep(0.5)
    raise SystemExit("streamlit did not start")


def measure(playwright, url: str, page: str, post_script_gc: bool, seconds: float) -> tuple[float, float, float]:
    """(server CPU s per s, browser CPU s per s, server RSS growth in MB) over `seconds` of `page` open."""
    server, base = serve(url, post_script_gc)
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            browser.new_page(viewport={"width": 1400, "height": 1000}).goto(f"{base}/{page}")
            time.sleep(WARM_UP_S)
            server0, browser0, rss0, start = (
                cpu_s(server.pid),
                cpu_s(os.getpid(), skip_root=True),
                rss_mb(server.pid),
                time.time(),
            )
            time.sleep(seconds)
            took = time.time() - start
            return ((cpu_s(server.pid) - server0) / took, (cpu_s(os.getpid(), skip_root=True) - browser0) / took,
                    rss_mb(server.pid) - rss0)  # fmt: skip
        finally:
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30, help="seconds counted per page and setting")
    parser.add_argument("--trials", type=int, default=2, help="alternating rounds of both settings")
    args = parser.parse_args()
    header("live_page.py")
    with temp_sqlite_store() as url:
        live = LiveRun(EPOCH_EVERY)
        moving = threading.Event()

        def move() -> None:
            while not moving.wait(1.0):
                live.one_second()

        threading.Thread(target=move, daemon=True).start()
        pages = {"Run": f"run?run={live.run_id}", "Runs": "runs"}
        print(f"# a running VGG38-sized run; each page open {WARM_UP_S} s, then {args.seconds:g} s counted; "
              f"{args.trials} trials", flush=True)  # fmt: skip
        results: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
        with sync_playwright() as playwright:
            for _ in range(args.trials):
                for name, page in pages.items():
                    for gc in (True, False):
                        got = measure(playwright, url, page, gc, args.seconds)
                        results.setdefault((name, gc), []).append(got)
                        print(f"{name:<5} gc {'on ' if gc else 'off'}  server {got[0]:.3f}  browser {got[1]:.3f} "
                              f"CPU s/s  server RSS {got[2]:+.1f} MB", flush=True)  # fmt: skip
        moving.set()
    for name in pages:
        on, off = (sum(server + browser for server, browser, _ in results[name, gc]) for gc in (True, False))
        print(f"{name}: server + browser CPU, gc off / gc on: {off / on:.2f}")


if __name__ == "__main__":
    main()
