"""Change Data Capture subscriptions in the store: replay position, state and counters.

The position is saved in the caller's transaction, the one that applies the changes it covers
(invariant 2): a crash replays from the last committed position and never skips.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select, update

from connector.store.bookkeeping import CdcSubscription
from connector.store.sqlutil import upsert_stmt
from connector.store.types import utcnow

__all__ = ["CdcRow", "list_subscriptions", "mark_polled", "mark_repoll", "save_position"]

CDC: Table = CdcSubscription.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CdcRow:
    """One subscription (see bookkeeping.CdcSubscription)."""

    topic: str
    entity: str
    replay_id: str | None
    commit_at: datetime | None
    state: str
    detail: str | None
    events: int
    gaps: int
    repolls: int
    updated_at: datetime | None


def list_subscriptions(conn: Connection) -> dict[str, CdcRow]:
    """Every subscription by topic."""
    rows = conn.execute(select(CDC).order_by(CDC.c.topic)).mappings()
    return {r["topic"]: CdcRow(**r) for r in rows}


def _upsert(conn: Connection, topic: str, entity: str, **values: Any) -> None:
    current = conn.execute(select(CDC).where(CDC.c.topic == topic)).mappings().first()
    base: dict[str, Any] = {"events": 0, "gaps": 0, "repolls": 0, "state": "live"}
    if current is not None:
        base = {k: current[k] for k in ("events", "gaps", "repolls", "state")}
    for name in ("events", "gaps", "repolls"):
        values[name] = base[name] + values.pop(f"add_{name}", 0)
    values.setdefault("state", base["state"])
    values["updated_at"] = utcnow()
    stmt = upsert_stmt(conn, CDC).values(topic=topic, entity=entity, **values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["topic"], set_={k: stmt.excluded[k] for k in values}
        )
    )


def save_position(
    conn: Connection,
    topic: str,
    entity: str,
    *,
    replay_id: str,
    commit_at: datetime | None,
    events: int,
    gaps: int = 0,
) -> None:
    """The subscription applied ``events`` more events up to ``replay_id``: it is live."""
    values: dict[str, Any] = {"replay_id": replay_id, "state": "live"}
    if commit_at is not None:
        values["commit_at"] = commit_at
    _upsert(conn, topic, entity, add_events=events, add_gaps=gaps, **values)


def mark_repoll(
    conn: Connection, topic: str, entity: str, detail: str, *, replay_id: str | None = None
) -> None:
    """A gap events cannot fill: polling re-reads the object. The subscription goes on from
    ``replay_id`` (None: afresh, from the newest event) and keeps ``commit_at``."""
    _upsert(conn, topic, entity, replay_id=replay_id, state="repolling", detail=detail,
            add_repolls=1)


def mark_polled(conn: Connection) -> int:
    """A poll ran after the re-polls asked for: those subscriptions are live again."""
    result = conn.execute(
        update(CDC).where(CDC.c.state == "repolling").values(state="live", updated_at=utcnow())
    )
    return int(result.rowcount or 0)
