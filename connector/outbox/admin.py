"""Operator views and actions on the outbox: depth and dead letters for `status`, listing,
retrying dead writes after the cause is fixed, dropping with a recorded reason, conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from connector.outbox.queue import DEAD, ITEMS
from connector.store.bookkeeping import OutboxConflict, OutboxCount
from connector.store.types import utcnow

__all__ = [
    "COUNT_BOUND",
    "STATUSES",
    "count_items",
    "dead_by_code",
    "drop_item",
    "list_conflicts",
    "list_items",
    "matching_ids",
    "outbox_summary",
    "retry_items",
    "status_counts",
]

STATUSES = ("pending", "dead", "done", "dropped")
CONFLICTS = OutboxConflict.__table__  # type: ignore[attr-defined]
COUNTS = OutboxCount.__table__  # type: ignore[attr-defined]


def status_counts(conn: Connection) -> dict[str, int]:
    """Items per status, every status present (from ``outbox_count``, kept by the database:
    a read of a few rows, however many items there are)."""
    t = COUNTS.c
    counts = {s: 0 for s in STATUSES}
    for status, n in conn.execute(select(t.status, func.sum(t.n)).group_by(t.status)):
        counts[str(status)] = int(n or 0)
    return counts


def outbox_summary(conn: Connection) -> dict[str, Any]:
    """Outbox depth for `status`: items per status, the oldest pending, dead letters open."""
    c = ITEMS.c
    counts = status_counts(conn)
    oldest = conn.execute(select(c.created_at).where(c.status == "pending")
                          .order_by(c.created_at).limit(1)).scalar()
    conflicts = int(conn.execute(select(func.count()).select_from(CONFLICTS)).scalar() or 0)
    return {
        **counts,
        "oldest_pending": oldest.isoformat() if isinstance(oldest, datetime) else None,
        "conflicts": conflicts,
    }


def _row(r: Any) -> dict[str, Any]:
    payload = r["payload"] or {}
    return {
        "id": r["id"],
        "status": r["status"],
        "sobject": r["sobject"],
        "operation": r["operation"],
        "record": r["sf_id"] or r["record_key"],
        "fields": payload.get("fields") or {},
        "cause": payload.get("cause"),
        "attempts": r["attempts"],
        "error_code": r["error_code"],
        "error": r["last_error"],
        "error_fields": r["error_fields"] or [],
        "reason": r["reason"],
        "created_at": r["created_at"].isoformat() if r["created_at"] else None,
        "updated_at": r["updated_at"].isoformat() if r["updated_at"] else None,
    }


def _where(
    stmt: Any,
    *,
    status: str | None = None,
    sobject: str | None = None,
    operation: str | None = None,
    error_code: str | None = None,
    search: str | None = None,
) -> Any:
    """``stmt`` narrowed by every filter given (they combine); ``search`` is a Salesforce id,
    a local id, a record key or the start of an item id."""
    c = ITEMS.c
    if status is not None:
        stmt = stmt.where(c.status == status)
    if sobject:
        stmt = stmt.where(c.sobject == sobject)
    if operation:
        stmt = stmt.where(c.operation == operation)
    if error_code:
        stmt = stmt.where(c.error_code == error_code)
    if search:
        term = search.strip()
        # each alternative an index lookup: the id's prefix as a range of the primary key
        cond = (c.sf_id == term) | (c.record_key == term) | (
            (c.id >= term) & (c.id < term + "\uffff"))
        if term.isdigit():
            cond = cond | (c.local_id == int(term))
        stmt = stmt.where(cond)
    return stmt


def list_items(
    conn: Connection,
    *,
    status: str | None = None,
    limit: int = 100,
    after: str | None = None,
    upto: datetime | None = None,
    **filters: str | None,
) -> list[dict[str, Any]]:
    """Outbox items, newest first (only ``status`` ones when given; ``filters``: sobject,
    operation, error_code, search, combined). ``after``: the items listed after the item with
    that id (the next page); ``upto``: only items last changed at or before then."""
    c = ITEMS.c
    stmt = _where(select(ITEMS), status=status, **filters)
    if upto is not None:
        stmt = stmt.where(c.updated_at <= upto)
    if after:
        mark = conn.execute(select(c.updated_at).where(c.id == after)).scalar()
        if mark is not None:
            stmt = stmt.where((c.updated_at < mark) | ((c.updated_at == mark) & (c.id > after)))
    stmt = stmt.order_by(c.updated_at.desc(), c.id).limit(limit)
    return [_row(r) for r in conn.execute(stmt).mappings()]


# A count the store keeps (by status and error code) is exact; any other filter is counted
# up to this many items ("10000+" on the page), so a page never reads every item.
COUNT_BOUND = 10_000


def count_items(
    conn: Connection, *, status: str | None = None, upto: datetime | None = None,
    bound: int | None = COUNT_BOUND, **filters: str | None,
) -> tuple[int, datetime | None, bool]:
    """How many items match (as ``list_items`` filters them), the newest one's time, and
    whether the count is exact: by status and error code alone (or neither) it is read from
    ``outbox_count``; with other filters or ``upto`` it counts at most ``bound`` + 1 matches
    (None: all), and a count past ``bound`` is not exact."""
    c = ITEMS.c
    newest = conn.execute(_where(select(c.updated_at), status=status, **filters)
                          .where(*([c.updated_at <= upto] if upto is not None else []))
                          .order_by(c.updated_at.desc()).limit(1)).scalar()
    others = {k: v for k, v in filters.items() if v and k != "error_code"}
    if upto is None and not others:
        t = COUNTS.c
        stmt = select(func.coalesce(func.sum(t.n), 0))
        if status is not None:
            stmt = stmt.where(t.status == status)
        if filters.get("error_code"):
            stmt = stmt.where(t.error_code == filters["error_code"])
        return int(conn.execute(stmt).scalar_one()), newest, True
    inner = _where(select(c.id), status=status, **filters)
    if upto is not None:
        inner = inner.where(c.updated_at <= upto)
    if bound is not None:
        inner = inner.limit(bound + 1)
    n = int(conn.execute(select(func.count()).select_from(inner.subquery())).scalar_one())
    if bound is not None and n > bound:
        return bound, newest, False
    return n, newest, True


def matching_ids(
    conn: Connection, *, status: str, upto: datetime, **filters: str | None
) -> list[str]:
    """Ids of the items that match and were last changed at or before ``upto``: what an
    operator saw (a write that failed after the page was shown is not among them)."""
    c = ITEMS.c
    stmt = _where(select(c.id), status=status, **filters).where(c.updated_at <= upto)
    return [str(i) for i in conn.execute(stmt).scalars()]


def dead_by_code(conn: Connection) -> list[dict[str, Any]]:
    """Dead writes grouped by Salesforce error code: how many (from ``outbox_count``), on
    which objects, the newest message and the fields it named (one index read a code)."""
    c, t = ITEMS.c, COUNTS.c
    groups = conn.execute(
        select(t.error_code, t.n).where(t.status == "dead", t.n > 0)
        .order_by(t.n.desc(), t.error_code)
    ).all()
    out = []
    for stored, n in groups:
        code = stored or None
        last = conn.execute(
            select(c.sobject, c.last_error, c.error_fields, c.updated_at)
            .where(c.status == "dead", c.error_code.is_(None) if code is None
                   else c.error_code == code)
            .order_by(c.updated_at.desc()).limit(1)
        ).one_or_none()
        if last is None:
            continue
        newest = last[3]
        out.append({"code": code, "count": int(n),
                    "newest": newest.isoformat() if isinstance(newest, datetime) else None,
                    "sobject": last[0], "message": last[1], "fields": last[2] or []})
    return out


def _resolve_letters(conn: Connection, item_ids: Sequence[str], now: datetime) -> None:
    wanted = set(item_ids)
    d = DEAD.c
    rows = conn.execute(
        select(d.id, d.payload).where(d.kind == "outbox", d.resolved_at.is_(None))
    ).all()
    ids = [i for i, p in rows if (p or {}).get("item_id") in wanted]
    if ids:
        conn.execute(update(DEAD).where(d.id.in_(ids)).values(resolved_at=now))


def retry_items(conn: Connection, *, ids: Sequence[str] | None = None) -> list[str]:
    """Put dead items (all of them when ``ids`` is None) back in the queue, due now."""
    c = ITEMS.c
    stmt = select(c.id).where(c.status == "dead")
    if ids is not None:
        stmt = stmt.where(c.id.in_(list(ids)))
    found = list(conn.execute(stmt).scalars())
    if not found:
        return []
    now = utcnow()
    conn.execute(
        update(ITEMS)
        .where(c.id.in_(found))
        .values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
    )
    _resolve_letters(conn, found, now)
    return found


def drop_item(conn: Connection, item_id: str, reason: str) -> str | None:
    """Discard a pending or dead item, keeping ``reason``; returns why it could not be."""
    c = ITEMS.c
    status = conn.execute(select(c.status).where(c.id == item_id)).scalar()
    if status is None:
        return f"no outbox item {item_id}"
    if status not in ("pending", "dead"):
        return f"outbox item {item_id} is {status}; only pending or dead items can be dropped"
    now = utcnow()
    conn.execute(
        update(ITEMS)
        .where(c.id == item_id)
        .values(status="dropped", reason=reason, updated_at=now, done_at=now)
    )
    _resolve_letters(conn, [item_id], now)
    return None


def list_conflicts(conn: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """Recorded conflicts, newest first, with the policy and the winning side."""
    k = CONFLICTS.c
    rows = conn.execute(select(CONFLICTS).order_by(k.id.desc()).limit(limit)).mappings()
    return [
        {
            "id": r["id"],
            "item_id": r["item_id"],
            "entity": r["entity"],
            "sobject": r["sobject"],
            "record": r["sf_id"],
            "field": r["field"],
            "prm_value": r["prm_value"],
            "crm_value": r["crm_value"],
            "policy": r["policy"],
            "winner": r["winner"],
            "detected_at": r["detected_at"].isoformat() if r["detected_at"] else None,
        }
        for r in rows
    ]
