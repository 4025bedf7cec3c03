"""The push inbox: notifications stored durably before they are acknowledged (invariant 4).

A notification is a hint that a record changed: its key (the Outbound Message Notification Id,
or ``event:<event id>:<record id>`` for a webhook) makes a redelivery a no-op; the push worker
later fetches the record and stamps the row processed, in the transaction that applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, select, update

from connector.store.bookkeeping import ReceivedNotification
from connector.store.sqlutil import chunks, upsert_stmt
from connector.store.types import utcnow

__all__ = [
    "Incoming",
    "Pending",
    "count_pending",
    "mark_failed",
    "mark_processed",
    "pending",
    "store_notifications",
]

TABLE = ReceivedNotification.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Incoming:
    """A notification as received: its dedupe key, the record it names, where it came from."""

    notification_id: str
    sobject: str
    sf_id: str
    source: str = "outbound"


@dataclass(frozen=True)
class Pending:
    """A stored notification waiting for the push worker."""

    id: int
    notification_id: str
    sobject: str
    sf_id: str
    received_at: datetime
    attempts: int


def store_notifications(
    engine: Engine, items: Sequence[Incoming], *, now: datetime | None = None
) -> int:
    """Insert ``items`` in one transaction, ignoring keys already stored; returns how many
    were new. Returns only after the commit: the caller may acknowledge then."""
    if not items:
        return 0
    at = now or utcnow()
    rows = [
        {
            "notification_id": i.notification_id,
            "sobject": i.sobject,
            "sf_id": i.sf_id,
            "source": i.source,
            "received_at": at,
            "attempts": 0,
        }
        for i in {i.notification_id: i for i in items}.values()
    ]
    with engine.begin() as conn:
        stmt = (
            upsert_stmt(conn, TABLE)
            .on_conflict_do_nothing(index_elements=["notification_id"])
            .returning(TABLE.c.id)
        )
        return len(conn.execute(stmt, rows).all())


def pending(conn: Connection, *, limit: int = 1000, max_attempts: int = 10) -> list[Pending]:
    """Unprocessed notifications, oldest first (those failed ``max_attempts`` times excluded)."""
    rows = conn.execute(
        select(
            TABLE.c.id,
            TABLE.c.notification_id,
            TABLE.c.sobject,
            TABLE.c.sf_id,
            TABLE.c.received_at,
            TABLE.c.attempts,
        )
        .where(TABLE.c.processed_at.is_(None), TABLE.c.attempts < max_attempts)
        .order_by(TABLE.c.id)
        .limit(limit)
    ).all()
    return [Pending(r[0], r[1], r[2] or "", r[3] or "", r[4], r[5]) for r in rows]


def count_pending(conn: Connection) -> int:
    """How many notifications wait for processing."""
    return int(
        conn.execute(
            select(func.count()).select_from(TABLE).where(TABLE.c.processed_at.is_(None))
        ).scalar_one()
    )


def mark_processed(
    conn: Connection, ids: Sequence[int], outcome: str, *, now: datetime | None = None
) -> None:
    """Stamp notifications processed with what the fetch found (in the caller's transaction)."""
    at = now or utcnow()
    for part in chunks(list(ids)):
        conn.execute(
            update(TABLE)
            .where(TABLE.c.id.in_(part))
            .values(processed_at=at, outcome=outcome, last_error=None)
        )


def mark_failed(conn: Connection, ids: Sequence[int], error: str) -> None:
    """Count a failed attempt; the notifications stay pending for the next try."""
    for part in chunks(list(ids)):
        conn.execute(
            update(TABLE)
            .where(TABLE.c.id.in_(part))
            .values(attempts=TABLE.c.attempts + 1, last_error=error[:2000])
        )
