"""Request paths as Salesforce's front end reads them: repeated slashes collapse to one.

The Salesforce CLI stores an instance URL given with a trailing slash as is and then asks for
``//services/data/...``; a real org answers that exactly as ``/services/data/...``.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CollapseSlashes", "collapse"]

_RUN = re.compile(r"/{2,}")


def collapse(path: str) -> str:
    """``path`` with every run of slashes made one."""
    return _RUN.sub("/", path)


class CollapseSlashes:
    """ASGI middleware: route ``//services/data//v62.0/...`` as ``/services/data/v62.0/...``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and "//" in path:
            scope = dict(scope, path=collapse(path))
            raw = scope.get("raw_path")
            if raw:
                scope["raw_path"] = _RUN.sub("/", raw.decode("latin-1")).encode("latin-1")
        await self.app(scope, receive, send)
