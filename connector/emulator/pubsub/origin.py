"""Which API made a change: the ``changeOrigin`` of its change events.

``OriginMiddleware`` sets ``CHANGE_ORIGIN`` for each API request from its path and its
``Sforce-Call-Options: client=...`` header, as ``com/salesforce/api/rest/62.0;client=Name``.
Work a request starts in another thread (a Bulk API 2.0 job) carries it when the thread runs in
a copy of the request's context.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from connector.emulator.pubsub.bus import CHANGE_ORIGIN

__all__ = ["OriginMiddleware", "origin_of"]

_PATHS = (
    (re.compile(r"^/services/data/v(\d+\.\d)/jobs/"), "bulk2"),
    (re.compile(r"^/services/data/v(\d+\.\d)/"), "rest"),
    (re.compile(r"^/services/async/(\d+\.\d)/"), "bulk"),
    (re.compile(r"^/services/Soap/\w/(\d+\.\d)"), "soap"),
)


def origin_of(path: str, call_options: str) -> str:
    """The changeOrigin of a request to ``path`` with that Sforce-Call-Options header."""
    for pattern, api in _PATHS:
        m = pattern.match(path)
        if m:
            client = re.search(r"(?:^|,)\s*client=([^,]*)", call_options)
            tail = f";client={client.group(1).strip()}" if client else ""
            return f"com/salesforce/api/{api}/{m.group(1)}{tail}"
    return ""


class OriginMiddleware:
    """ASGI middleware: CHANGE_ORIGIN for the request's duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        options = ""
        for name, value in scope.get("headers", ()):
            if name.lower() == b"sforce-call-options":
                options = value.decode("latin-1")
        token = CHANGE_ORIGIN.set(origin_of(scope.get("path", ""), options))
        try:
            await self.app(scope, receive, send)
        finally:
            CHANGE_ORIGIN.reset(token)
