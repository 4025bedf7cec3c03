"""Seeded fault injection for the API (never for the /_emulator/ test API).

``POST /_emulator/faults`` with ``{"rate": 0..1, "kinds": [...], "latency_ms": N, "seed": S,
"only": ["query", ...]}``. The same seed gives the same sequence of faults, so a failing test
run can be replayed.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.emulator.errors import ApiError

__all__ = ["KINDS", "FaultInjector", "FaultMiddleware"]

KINDS = (
    "SERVER_UNAVAILABLE",
    "UNKNOWN_EXCEPTION",
    "UNABLE_TO_LOCK_ROW",
    "REQUEST_LIMIT_EXCEEDED",
    "CONNECTION_RESET",
    "INVALID_SESSION_ID",
)


def fault_error(kind: str) -> ApiError:
    """The error response Salesforce sends for ``kind``."""
    if kind == "SERVER_UNAVAILABLE":
        return ApiError(
            503,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable",
            headers={"Retry-After": "1"},
        )
    if kind == "UNKNOWN_EXCEPTION":
        return ApiError(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact "
            "support: 1234567890-12345 (-1234567890)",
        )
    if kind == "UNABLE_TO_LOCK_ROW":
        return ApiError(
            400,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records",
        )
    if kind == "REQUEST_LIMIT_EXCEEDED":
        return ApiError(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
        )
    if kind == "INVALID_SESSION_ID":
        return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
    raise ValueError(kind)


@dataclass
class FaultInjector:
    """Decides, request by request, whether to inject a fault (thread-safe, seeded)."""

    rate: float = 0.0
    kinds: tuple[str, ...] = ()
    latency_ms: int = 0
    seed: int = 0
    only: tuple[str, ...] = ()
    injected: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply a ``/_emulator/faults`` body; returns the active settings."""
        kinds = tuple(body.get("kinds") or ())
        unknown = [k for k in kinds if k not in KINDS]
        rate = float(body.get("rate", 0.0))
        if unknown or not 0.0 <= rate <= 1.0:
            raise ApiError(
                400, "INVALID_INPUT", f"rate must be 0..1 and kinds among {', '.join(KINDS)}"
            )
        with self._lock:
            self.rate = rate
            self.kinds = kinds or KINDS
            self.latency_ms = int(body.get("latency_ms", 0))
            self.seed = int(body.get("seed", 0))
            self.only = tuple(body.get("only") or ())
            self.injected = 0
            self._rng = random.Random(self.seed)
        return self.state()

    def state(self) -> dict[str, Any]:
        """The current settings and how many faults were injected."""
        return {
            "rate": self.rate,
            "kinds": list(self.kinds),
            "latency_ms": self.latency_ms,
            "seed": self.seed,
            "only": list(self.only),
            "injected": self.injected,
        }

    def pick(self, path: str, *, dml: bool) -> str | None:
        """The fault to inject into a request to ``path``, if any."""
        if self.rate <= 0 or (self.only and not any(o in path for o in self.only)):
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            choices = [k for k in self.kinds if dml or k != "UNABLE_TO_LOCK_ROW"]
            if not choices:
                return None
            kind = self._rng.choice(choices)
            self.injected += 1
            return kind

    def lock_record(self) -> bool:
        """For one record of a collection call: fail it with UNABLE_TO_LOCK_ROW?"""
        if self.rate <= 0 or "UNABLE_TO_LOCK_ROW" not in self.kinds:
            return False
        with self._lock:
            hit = self._rng.random() < self.rate / 2
            self.injected += int(hit)
            return hit


class FaultMiddleware:
    """ASGI middleware: latency and faults for the API paths only."""

    def __init__(self, app: ASGIApp, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(("/services/data/", "/services/async/")):
            await self.app(scope, receive, send)
            return
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        dml = scope.get("method", "GET") in ("POST", "PATCH", "PUT", "DELETE")
        # Collections get per-record lock failures instead of a whole-call one.
        kind = self.faults.pick(path, dml=dml and "composite/sobjects" not in path)
        if kind is None:
            await self.app(scope, receive, send)
            return
        if kind == "CONNECTION_RESET":
            start: Message = {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
            await send(start)
            await send({"type": "http.response.body", "body": b'{"tot', "more_body": True})
            raise ConnectionResetError("emulator fault: connection reset")
        err = fault_error(kind)
        headers = [(b"content-type", b"application/json")]
        headers += [(k.lower().encode(), v.encode()) for k, v in err.headers.items()]
        await send({"type": "http.response.start", "status": err.status, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps(err.body())})
