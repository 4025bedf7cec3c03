"""Shed slow and idle clients before they exhaust the receiver (uvicorn has no read timeouts).

uvicorn closes a keep-alive connection that stays idle after a response, but a connection that
never finishes its request head (or its body) is kept for as long as the client likes: 200 of
them held the receiver for minutes. ``protocol_class`` gives uvicorn an h11 protocol with:

- a header timeout: the request head (request line and headers) must be complete within
  ``header_timeout`` seconds of the connection (or of its first byte after a keep-alive wait);
- a body timeout: the body must be complete within ``body_timeout`` seconds of the head;
- a cap on open connections: at the cap, a new connection evicts the oldest one still waiting
  for its request head (the slow-loris one), and is refused only when none is, so a flood of
  idle connections cannot lock out a real sender;
- the keep-alive timeout (uvicorn's own, set from ``keep_alive``).

A connection shed this way is closed without an answer: a real sender (Salesforce) retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from connector.logs import get_logger

__all__ = ["ClientLimits", "protocol_class"]

log = get_logger("connector.daemon.receiver")


@dataclass(frozen=True)
class ClientLimits:
    """How long a client may take, and how many may be connected at once."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive: float = 5.0
    max_connections: int = 256

    @classmethod
    def from_settings(cls, settings: Any) -> ClientLimits:
        """From the ``daemon:`` settings (``DaemonSettings``)."""
        return cls(
            header_timeout=float(settings.header_timeout_seconds),
            body_timeout=float(settings.body_timeout_seconds),
            keep_alive=float(settings.keep_alive_seconds),
            max_connections=int(settings.max_connections),
        )


def protocol_class(
    limits: ClientLimits, on_shed: Callable[[str], None] | None = None
) -> type[H11Protocol]:
    """An h11 protocol class for ``uvicorn.Config(http=...)`` enforcing ``limits``;
    ``on_shed(reason)`` is called for each connection shed (header, body, evicted, refused)."""

    class SheddingProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None
        _waiting: str | None = None  # "head" or "body": what the armed deadline waits for
        _since = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._since = self.loop.time()
            self._arm("head", limits.header_timeout)
            if len(self.connections) > limits.max_connections and not self._evict_one():
                self._shed("refused")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.is_closing():
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                if self._waiting != "head":  # first bytes after a keep-alive wait
                    self._arm("head", limits.header_timeout)
            elif state is h11.SEND_BODY:
                if self._waiting != "body":
                    self._arm("body", limits.body_timeout)
            else:  # the whole request is in: the app's time is not the client's
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # idle now: uvicorn's keep-alive timeout takes over

        # --- deadlines --------------------------------------------------------------------
        def _arm(self, what: str, seconds: float) -> None:
            self._disarm()
            self._waiting = what
            self._deadline = self.loop.call_later(seconds, self._expired, what)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = None
            self._waiting = None

        def _expired(self, what: str) -> None:
            self._deadline = None
            state = self.conn.their_state
            if (what == "head" and state is h11.IDLE) or (
                what == "body" and state is h11.SEND_BODY
            ):
                self._shed(what)

        def _waiting_for_head(self) -> bool:
            return self._waiting == "head" and self.conn.their_state is h11.IDLE

        def _evict_one(self) -> bool:
            """Close the oldest other connection still waiting for its request head."""
            idle = [
                other
                for other in self.connections
                if other is not self
                and isinstance(other, SheddingProtocol)
                and other._waiting_for_head()
                and not other.transport.is_closing()
            ]
            if not idle:
                return False
            min(idle, key=lambda c: c._since)._shed("evicted")
            return True

        def _shed(self, reason: str) -> None:
            self._disarm()
            if on_shed is not None:
                on_shed(reason)
            log.debug("receiver.client_shed", reason=reason)
            self.transport.close()

    return SheddingProtocol
