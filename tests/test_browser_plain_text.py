"""User text in a real browser: a run whose name and failure reason hold Markdown (a remote image, a link, an
autolink) is drawn as typed on its Run page, in Streamlit's own renderer; the image is never fetched."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from dashboard.display import WORD_JOINER
from tests.browser_helpers import CHROMIUM, CHROMIUM_ARGS, dump_logs
from tests.env_support import free_port
from tests.run_support import tiny
from worker import db, store

pytestmark = [pytest.mark.pages, pytest.mark.timeout(300)]


@pytest.fixture
def pixel_server() -> Iterator[tuple[str, list[str]]]:
    """A local web server that records every request: the 'remote' image a Markdown run name would load."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()


def test_markdown_in_a_run_name_stays_text(services, pixel_server) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, logs = services
    pixel, hits = pixel_server
    name = f"![]({pixel}/pixel) [t](https://evil.example) https://evil.example/x www.evil.example"
    with db.session_scope() as s:
        run_id = store.create_run(s, tiny(), store.RunMeta(name=name)).id
        store.set_status(s, run_id, "failed", reason=f"boom [here](https://evil.example) ![]({pixel}/reason)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{base}/run?run={run_id}", timeout=120_000)  # straight to the run; 2 busy cores are slow
            main = page.locator("[data-testid='stMain']")
            heading = main.locator("h2").first
            expect(heading).to_contain_text(f"#{run_id} ![](", timeout=60_000)
            alert = main.get_by_text("Failed: boom [here](")
            expect(alert).to_be_visible()
            page.wait_for_timeout(1000)
            seen = lambda element: element.inner_text().replace(WORD_JOINER, "")  # noqa: E731 (invisible)
            assert seen(heading).startswith(f"#{run_id} {name} · ")
            assert seen(alert) == f"Failed: boom [here](https://evil.example) ![]({pixel}/reason)"
            assert main.locator("img[src*='127.0.0.1']").count() == 0
            assert main.locator("a[href*='evil.example']").count() == 0
            assert page.locator("[data-testid='stException']").count() == 0
        except Exception:
            dump_logs(page, logs)
            raise
        finally:
            browser.close()
    assert hits == []
