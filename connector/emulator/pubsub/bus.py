"""The emulator's event bus: change events kept for 72 hours of the org's clock, replay ids.

The bus hooks into ``Org.add_commit_hook``: every committed transaction becomes change events
at once (under the org's lock, so their order is the commit order); their Avro payloads are
built on first delivery. Replay ids are opaque: a position sealed with a key of this bus, so a
replay id that was altered, or that another emulator run issued, is refused as corrupted.

Faults (``POST /_emulator/faults`` with a ``pubsub`` object, see ``configure``): the next
transactions as GAP_* events, the next transaction as GAP_OVERFLOW, a delivery allocation,
the keepalive interval, the retention.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import secrets
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connector.emulator.pubsub.avro import EventSchema, build_schema, entity_of_topic
from connector.emulator.pubsub.changes import Change, PendingEvent, transaction_events

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = ["ALL_CHANGES", "CHANGE_ORIGIN", "BadReplayId", "EventBus", "StoredEvent"]

ALL_CHANGES = "/data/ChangeEvents"
RETENTION = timedelta(hours=72)
KEEPALIVE_SECONDS = 270.0
MAX_EVENTS = 200_000  # memory bound: the oldest go first, as if past retention
# The API that made the change (``com/salesforce/api/rest/62.0;client=...``), set per request
# by the emulator's app; empty for changes no API call made.
CHANGE_ORIGIN: contextvars.ContextVar[str] = contextvars.ContextVar("change_origin", default="")


class BadReplayId(ValueError):
    """A replay id this bus never issued, altered, or past retention."""


@dataclass
class StoredEvent:
    """One event in the stream."""

    seq: int
    committed: float  # the org's clock, epoch seconds
    pending: PendingEvent
    payload: bytes | None = None


class EventBus:
    """The change event stream of one org."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._key = secrets.token_bytes(16)
        self.events: deque[StoredEvent] = deque()
        self.seq = 0
        self.commit_number = 10_000_000
        self.cond = threading.Condition(threading.Lock())
        self._schemas: dict[str, EventSchema] = {}
        self.retention = RETENTION
        self.keepalive_seconds = KEEPALIVE_SECONDS
        self.max_events = MAX_EVENTS
        self.gap_next = 0  # transactions still to publish as GAP_* events
        self.overflow_next = 0  # transactions still to publish as GAP_OVERFLOW
        self.overflow_threshold = 100_000  # changes in one transaction before overflow
        self.delivery_limit: int | None = None
        self.delivered = 0
        org.add_commit_hook(self._on_commit)

    # -- schemas --------------------------------------------------------------------------
    def schema(self, entity: str) -> EventSchema:
        """The change event schema of ``entity`` (built once)."""
        found = self._schemas.get(entity)
        if found is None:
            found = self._schemas[entity] = build_schema(self.org.schema[entity])
        return found

    def schema_by_id(self, schema_id: str) -> EventSchema | None:
        """The schema whose fingerprint is ``schema_id``, or None."""
        for name in self.org.schema:
            found = self.schema(name)
            if found.schema_id == schema_id:
                return found
        return None

    def entities_of(self, topic: str) -> set[str] | None:
        """The objects a topic carries (None: all of them); KeyError for an unknown topic."""
        if topic == ALL_CHANGES:
            return None
        entity = entity_of_topic(topic, self.org.schema)
        if entity is None:
            raise KeyError(topic)
        return {entity}

    # -- publishing -----------------------------------------------------------------------
    def _on_commit(self, changes: list[Change]) -> None:
        with self.cond:
            gap = self.gap_next > 0
            overflow = self.overflow_next > 0
            self.gap_next -= int(gap)
            self.overflow_next -= int(overflow and not gap)
            self.commit_number += 1
            now = self.org.now_dt()
            pending = transaction_events(
                changes,
                self.schema,
                origin=CHANGE_ORIGIN.get(),
                commit_ms=int(now.timestamp() * 1000),
                commit_number=self.commit_number,
                transaction_key=str(uuid.uuid4()),
                gap=gap,
                overflow_after=0 if overflow and not gap else self.overflow_threshold,
            )
            for event in pending:
                self.seq += 1
                self.events.append(StoredEvent(self.seq, now.timestamp(), event))
            while len(self.events) > self.max_events:
                self.events.popleft()
            self.cond.notify_all()

    # -- replay ids -----------------------------------------------------------------------
    def replay_id(self, seq: int) -> bytes:
        """The opaque replay id of position ``seq``."""
        body = seq.to_bytes(8, "big")
        return body + hmac.new(self._key, body, hashlib.sha256).digest()[:8]

    def position(self, replay_id: bytes) -> int:
        """The position a replay id stands for; BadReplayId when it is not one of ours or
        its event is past retention."""
        if len(replay_id) != 16:
            raise BadReplayId("malformed")
        body, tag = replay_id[:8], replay_id[8:]
        if not hmac.compare_digest(tag, hmac.new(self._key, body, hashlib.sha256).digest()[:8]):
            raise BadReplayId("not issued by this org")
        seq = int.from_bytes(body, "big")
        with self.cond:
            self._expire()
            oldest = self.events[0].seq if self.events else self.seq + 1
            if seq > self.seq or seq + 1 < oldest:
                raise BadReplayId("outside the retention window")
        return seq

    # -- reading --------------------------------------------------------------------------
    def _expire(self) -> None:
        horizon = (self.org.now_dt() - self.retention).timestamp()
        while self.events and self.events[0].committed < horizon:
            self.events.popleft()

    def earliest(self) -> int:
        """The position just before the oldest retained event."""
        with self.cond:
            self._expire()
            return (self.events[0].seq - 1) if self.events else self.seq

    def after(
        self, seq: int, entities: set[str] | None, limit: int
    ) -> tuple[list[StoredEvent], int]:
        """Up to ``limit`` retained events after ``seq`` for ``entities``, and the position
        the reader has passed (beyond events of other objects too)."""
        out: list[StoredEvent] = []
        with self.cond:
            self._expire()
            cursor = seq
            for event in self.events:
                if event.seq <= seq:
                    continue
                if len(out) >= limit:
                    break
                cursor = event.seq
                if entities is None or event.pending.entity in entities:
                    out.append(event)
        for event in out:
            if event.payload is None:
                schema = self.schema(event.pending.entity)
                event.payload = schema.encode(event.pending.header, event.pending.values)
        return out, cursor

    def wait(self, seq: int, timeout: float) -> None:
        """Block until an event after ``seq`` is published, or ``timeout`` seconds pass."""
        with self.cond:
            if self.seq <= seq:
                self.cond.wait(timeout)

    def wake(self) -> None:
        """Wake every waiting subscription (a request came in, or the bus is stopping)."""
        with self.cond:
            self.cond.notify_all()

    # -- allocation -----------------------------------------------------------------------
    def allow(self, n: int) -> int:
        """How many of ``n`` events may still be delivered under the allocation (counted)."""
        with self.cond:
            if self.delivery_limit is None:
                self.delivered += n
                return n
            ok = max(0, min(n, self.delivery_limit - self.delivered))
            self.delivered += ok
            return ok

    def exhausted(self) -> bool:
        """True when the delivery allocation is used up."""
        with self.cond:
            return self.delivery_limit is not None and self.delivered >= self.delivery_limit

    # -- faults ---------------------------------------------------------------------------
    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """Apply the ``pubsub`` object of ``POST /_emulator/faults``: ``gap_transactions``,
        ``overflow_transactions``, ``overflow_threshold``, ``delivery_limit`` (null: none;
        resets the count), ``keepalive_seconds``, ``retention_seconds``."""
        with self.cond:
            if "gap_transactions" in body:
                self.gap_next = _count(body, "gap_transactions")
            if "overflow_transactions" in body:
                self.overflow_next = _count(body, "overflow_transactions")
            if "overflow_threshold" in body:
                self.overflow_threshold = max(1, _count(body, "overflow_threshold"))
            if "delivery_limit" in body:
                limit = body["delivery_limit"]
                self.delivery_limit = None if limit is None else _count(body, "delivery_limit")
                self.delivered = 0
            if "keepalive_seconds" in body:
                self.keepalive_seconds = _seconds(body, "keepalive_seconds")
            if "retention_seconds" in body:
                self.retention = timedelta(seconds=_seconds(body, "retention_seconds"))
            self.cond.notify_all()
            return self.state()

    def state(self) -> dict[str, Any]:
        """The fault settings and counters, and the newest replay id (base64): a subscription
        from it with CUSTOM sees every change made after this call."""
        return {
            "latest_replay_id": base64.b64encode(self.replay_id(self.seq)).decode(),
            "gap_transactions": self.gap_next,
            "overflow_transactions": self.overflow_next,
            "overflow_threshold": self.overflow_threshold,
            "delivery_limit": self.delivery_limit,
            "delivered": self.delivered,
            "keepalive_seconds": self.keepalive_seconds,
            "retention_seconds": self.retention.total_seconds(),
            "events": len(self.events),
        }


def _count(body: dict[str, Any], name: str) -> int:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"pubsub.{name} must be a non-negative integer")
    return value


def _seconds(body: dict[str, Any], name: str) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"pubsub.{name} must be a positive number")
    return float(value)
