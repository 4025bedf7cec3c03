"""Response headers as Salesforce sends them: its spelling, and Sforce-Limit-Info on every
API response (injected faults included).

HTTP says header names are case-insensitive, but some clients look them up in a plain dict:
airbyte-cdk's Bulk 2.0 reader fails on a lower-case ``content-type``. Starlette lower-cases
every name, so this outermost ASGI middleware respells them on the way out.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["API_PREFIXES", "SalesforceHeaders", "spell"]

# The paths whose responses carry the API usage header (the REST, Bulk 2.0 and Bulk v1 APIs).
API_PREFIXES = ("/services/data/", "/services/async/")
_SPECIAL = {
    "sforce-numberofrecords": "Sforce-NumberOfRecords",
    "www-authenticate": "WWW-Authenticate",
    "etag": "ETag",
}


def spell(name: str) -> str:
    """A header name as Salesforce spells it: ``sforce-limit-info`` -> ``Sforce-Limit-Info``."""
    lower = name.lower()
    return _SPECIAL.get(lower) or "-".join(part.capitalize() for part in lower.split("-"))


class SalesforceHeaders:
    """ASGI middleware: respell response header names; add Sforce-Limit-Info to API calls."""

    def __init__(self, app: ASGIApp, limit_info: Callable[[], str]) -> None:
        self.app = app
        self.limit_info = limit_info

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_api = str(scope.get("path", "")).startswith(API_PREFIXES)

        async def respelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (spell(k.decode("latin-1")).encode("latin-1"), v)
                    for k, v in message.get("headers", [])
                ]
                if is_api and not any(k == b"Sforce-Limit-Info" for k, _ in headers):
                    headers.append((b"Sforce-Limit-Info", self.limit_info().encode("latin-1")))
                headers.append((b"Date", formatdate(usegmt=True).encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, respelled)
