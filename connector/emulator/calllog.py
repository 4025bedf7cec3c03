"""A record of the API calls the emulator answered: method, path and status, newest last.

``GET /_emulator/calls`` returns it, so a check with a client we did not write can say which
calls that client made and whether each succeeded. The test API's own calls are left out.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CallLog", "CallLogMiddleware"]


class CallLog:
    """The last ``size`` calls (a ring: a long-running emulator keeps bounded memory)."""

    def __init__(self, size: int = 50_000) -> None:
        self._calls: deque[dict[str, Any]] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, method: str, path: str, status: int) -> None:
        """Note one answered call."""
        with self._lock:
            self._calls.append({"method": method, "path": path, "status": status})

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        """The calls kept, oldest first, from index ``since``."""
        with self._lock:
            return list(self._calls)[since:]

    def clear(self) -> None:
        """Forget every call."""
        with self._lock:
            self._calls.clear()


class CallLogMiddleware:
    """ASGI middleware noting each call's method, path and response status in a CallLog."""

    def __init__(self, app: ASGIApp, log: CallLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] != "http" or path.startswith("/_emulator/"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def noting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting)
        finally:
            self.log.add(str(scope.get("method", "")), path, status)
