"""Same-origin WebSockets: the dashboard's WebSocket opens only for a page of its own origin (scheme, host, port).

Streamlit checks the Host header against `server.allowedHosts` (no DNS rebinding), but it compares an Origin's
host name only: a page on another port of localhost, or of the server's own address, would open the WebSocket
and read every page. `SameOriginWebSockets` sits in front of Streamlit (dashboard/server.py) and refuses, with
403, a WebSocket whose Origin is not exactly this server's origin: the scheme the request arrived with (uvicorn
takes X-Forwarded-Proto from a proxy on 127.0.0.1), the Host header's name and its port (the scheme's default
when absent). A client that sends no Origin (not a browser: browsers always send one with a WebSocket) passes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, lower-case host, port) of an http(s) origin or Host; None for anything else ("null", junk)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return parts.scheme, parts.hostname.rstrip("."), port or DEFAULT_PORTS[parts.scheme]


def same_origin(origin: str, host: str, secure: bool) -> bool:
    """Whether a page at `origin` is this server, reached as `host` (the Host header) over TLS or not."""
    mine = origin_of(f"{'https' if secure else 'http'}://{host}")
    return mine is not None and origin_of(origin) == mine


class SameOriginWebSockets:
    """ASGI middleware: a WebSocket handshake with a foreign Origin gets 403 before Streamlit sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable) -> None:
        if scope["type"] == "websocket":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            origin = headers.get("origin")
            if origin is not None and not same_origin(origin, headers.get("host", ""), scope.get("scheme") == "wss"):
                await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
                return
        await self.app(scope, receive, send)
