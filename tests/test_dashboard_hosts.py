"""DNS rebinding and cross-origin WebSockets: the Procfile's `web` command, run for real, opens the app's
WebSocket (/_stcore/stream) only for its own host names (plus VGP_ALLOWED_HOSTS) and its own origin: the same
scheme, host and port (dashboard/origin.py)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_helpers import ROOT, stop, wait_healthy
from tests.env_support import free_port


def web_command() -> str:
    (line,) = [line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")]
    return line.removeprefix("web:").strip()


@pytest.fixture
def port(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = dict(os.environ, VGP_WEB_PORT=str(port), VGP_ALLOWED_HOSTS="vgp.lab.example,*.corp.example",
               DATABASE_URL=f"sqlite:///{tmp_path / 'vgp.db'}")  # fmt: skip
    log = tmp_path / "streamlit.log"
    with open(log, "w") as out:  # honcho runs a Procfile line with sh, as here
        proc = subprocess.Popen(
            ["sh", "-c", web_command()], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )  # its own group: stop() takes sh's child streamlit too
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield port
    finally:
        stop(proc)


def upgrade(port: int, host: str, origin: str | None = None, proto: str | None = None) -> int:
    """The HTTP status of a raw WebSocket upgrade to /_stcore/stream: 101 accepted, 403 refused. `proto`: the
    X-Forwarded-Proto a TLS reverse proxy on 127.0.0.1 would add."""
    lines = ["GET /_stcore/stream HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
             *([f"Origin: {origin}"] if origin else []),
             *([f"X-Forwarded-Proto: {proto}"] if proto else [])]  # fmt: skip
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return int(s.recv(4096).split(b"\r\n", 1)[0].split()[1])


def test_only_our_hosts_and_origins_open_the_websocket(port: int) -> None:
    here = f"127.0.0.1:{port}"
    assert upgrade(port, here, f"http://{here}") == 101
    assert upgrade(port, f"localhost:{port}", f"http://localhost:{port}") == 101
    assert upgrade(port, "evil.example") == 403  # DNS rebinding: the browser sends the attacker's name
    assert upgrade(port, f"evil.example:{port}", f"http://evil.example:{port}") == 403
    assert upgrade(port, here, "http://evil.example") == 403  # a page on another site
    assert upgrade(port, "vgp.lab.example", "https://vgp.lab.example", proto="https") == 101  # VGP_ALLOWED_HOSTS
    assert upgrade(port, "a.corp.example:443") == 101
    assert upgrade(port, "corp.example.evil.example") == 403


def test_a_page_on_another_port_or_scheme_of_our_own_host_is_refused(port: int) -> None:
    """Streamlit compares host names only; a page on another port or scheme of the same host is another origin."""
    here = f"127.0.0.1:{port}"
    assert upgrade(port, f"localhost:{port}", "http://localhost:9999") == 403
    assert upgrade(port, f"localhost:{port}", "https://localhost:1") == 403
    assert upgrade(port, here, "http://127.0.0.1:5") == 403
    assert upgrade(port, here, f"https://{here}") == 403  # same host and port, other scheme
    assert upgrade(port, here, "null") == 403  # a sandboxed frame or a file:// page
    assert upgrade(port, "vgp.lab.example", "https://vgp.lab.example") == 403  # https page, but no TLS proxy said so
    assert upgrade(port, "vgp.lab.example", "http://vgp.lab.example:8080", proto="http") == 403
    assert upgrade(port, here) == 101  # no Origin: not a browser (browsers always send one)
