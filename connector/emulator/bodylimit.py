"""A bound on request bodies: past it, 413 before the body is read into memory.

The default, 150 MB, is the largest upload Salesforce documents for its APIs (one Bulk API 2.0
job's data); ``emulator serve`` has no reason to take more, and a shared emulator must not be
made to buffer an endless body. A body without Content-Length (chunked) is counted as it comes.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_BODY_BYTES", "BodyLimit"]

MAX_BODY_BYTES = 150 * 1024 * 1024


class BodyLimit:
    """ASGI middleware answering 413 REQUEST_ENTITY_TOO_LARGE to bodies over ``limit``."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)
            return
        # No declared length: read it here, counting, then hand it on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = orjson.dumps([{
            "errorCode": "REQUEST_ENTITY_TOO_LARGE",
            "message": f"The request body is larger than {self.limit} bytes",
        }])
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json;charset=UTF-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})
