"""The outbox table as a work queue: claim pending writes, settle them done, dead or later.

Claiming: no transaction is held open across a Salesforce call (invariant 9). The dispatcher
claims a batch in a short transaction (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite) that leases the items: ``reason`` names the claimer
(``sending:host:pid:nonce``) and ``next_attempt_at`` is the end of the lease, so no other
dispatcher takes them; it commits, calls Salesforce, and records the results in a second
transaction. A claimer that crashed between the two leaves its lease behind: the next
dispatch on the same host releases the leases of dead processes at once (others expire with
the lease), and the writes are sent again - every write is an update by Id or an upsert by
external id, so a replay changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, or_, select, update

from connector.outbox.coalesce import ClaimedItem, RecordWrite
from connector.store.bookkeeping import DeadLetter, OutboxItem, OutboxWritten
from connector.store.sqlutil import chunks, to_json_safe, upsert_stmt

__all__ = [
    "ITEMS",
    "OUTAGE_REASON",
    "WRITTEN",
    "claim",
    "defer_for_outage",
    "lease",
    "leases",
    "mark_dead",
    "mark_done",
    "paused_for",
    "paused_until",
    "pending_groups",
    "release",
    "retry_later",
    "written_for",
]

ITEMS: Table = OutboxItem.__table__  # type: ignore[attr-defined]
WRITTEN: Table = OutboxWritten.__table__  # type: ignore[attr-defined]
DEAD: Table = DeadLetter.__table__  # type: ignore[attr-defined]
MAX_BACKOFF = 3600.0
#: ``reason`` of a pending item held back by an org-wide outage (no attempt counted)
OUTAGE_REASON = "paused: Salesforce unavailable"
#: ``reason`` prefix of a pending item claimed by a dispatcher that is sending it
LEASE_PREFIX = "sending:"


def _not_leased(now: datetime) -> Any:
    c = ITEMS.c
    return or_(
        c.reason.is_(None),
        ~c.reason.startswith(LEASE_PREFIX),
        c.next_attempt_at.is_(None),
        c.next_attempt_at <= now,
    )


def _due(now: datetime) -> Any:
    c = ITEMS.c
    return and_(
        c.status == "pending", or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now)
    )


def pending_groups(conn: Connection, now: datetime) -> list[tuple[str, str, int]]:
    """(sobject, operation, records due) for every group with due items, biggest first."""
    c = ITEMS.c
    stmt = (
        select(c.sobject, c.operation, func.count(func.distinct(c.record_key)))
        .where(_due(now))
        .group_by(c.sobject, c.operation)
    )
    rows = [(str(s), str(o), int(n)) for s, o, n in conn.execute(stmt)]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))


def claim(
    conn: Connection, sobject: str, operation: str, now: datetime, records: int
) -> list[ClaimedItem]:
    """Lock the due items of up to ``records`` records (first queued first) for this
    transaction, in queue order."""
    c = ITEMS.c
    keys_stmt = (
        select(c.record_key)
        .where(_due(now), c.sobject == sobject, c.operation == operation)
        .group_by(c.record_key)
        .order_by(func.min(c.seq), c.record_key)
        .limit(records)
    )
    keys = [k for k in conn.execute(keys_stmt).scalars() if k is not None]
    out: list[ClaimedItem] = []
    for part in chunks(keys):
        # every pending item of a chosen record, due or waiting for a retry: they coalesce,
        # so an older write retried later can never overwrite a newer one
        stmt = (
            select(ITEMS)
            .where(
                c.status == "pending", c.sobject == sobject, c.operation == operation,
                c.record_key.in_(part), _not_leased(now),
            )
            .order_by(c.seq, c.id)
            .with_for_update(skip_locked=True)
        )
        out.extend(_claimed(row) for row in conn.execute(stmt).mappings())
    return out


def lease(conn: Connection, items: Sequence[ClaimedItem], holder: str, until: datetime) -> None:
    """Mark claimed items as being sent by ``holder`` until ``until`` (see the module doc)."""
    c = ITEMS.c
    for part in chunks([i.id for i in items]):
        conn.execute(
            update(ITEMS)
            .where(c.id.in_(part), c.status == "pending")
            .values(reason=LEASE_PREFIX + holder, next_attempt_at=until)
        )


def leases(conn: Connection, now: datetime) -> list[str]:
    """The holders of live leases (``host:pid:nonce``)."""
    c = ITEMS.c
    rows = conn.execute(
        select(c.reason)
        .where(c.status == "pending", c.reason.startswith(LEASE_PREFIX), c.next_attempt_at > now)
        .distinct()
    ).scalars()
    return [str(r)[len(LEASE_PREFIX):] for r in rows]


def release(
    conn: Connection, now: datetime, *, holder: str | None = None,
    item_ids: Sequence[str] = (),
) -> int:
    """Make leased items due again: those of ``holder`` (a dead claimer), or ``item_ids``."""
    c = ITEMS.c
    which = (
        c.reason == LEASE_PREFIX + holder
        if holder is not None
        else and_(c.id.in_(list(item_ids)), c.reason.startswith(LEASE_PREFIX))
    )
    result = conn.execute(
        update(ITEMS)
        .where(c.status == "pending", which)
        .values(reason=None, next_attempt_at=now)
    )
    return int(result.rowcount or 0)


def _claimed(row: Any) -> ClaimedItem:
    payload = row["payload"] or {}
    return ClaimedItem(
        id=row["id"],
        entity=row["entity"],
        sobject=row["sobject"],
        operation=row["operation"],
        record_key=row["record_key"] or row["id"],
        sf_id=row["sf_id"],
        fields=dict(payload.get("fields") or {}),
        external_id_field=payload.get("external_id_field"),
        external_id=payload.get("external_id"),
        attempts=int(row["attempts"] or 0),
        base_seq=int(row["base_seq"] or 0),
        created_at=row["created_at"],
        meta=dict(payload.get("meta") or {}),
        seq=int(row["seq"] or 0),
    )


def written_for(
    conn: Connection, sobject: str, keys: Iterable[str], sf_ids: Iterable[str]
) -> dict[str, tuple[dict[str, Any], datetime, str | None]]:
    """What we last wrote to these records, by record key and by sf_id: (fields, when, sf_id)."""
    out: dict[str, tuple[dict[str, Any], datetime, str | None]] = {}
    w = WRITTEN.c
    wanted = list(dict.fromkeys([*keys, *sf_ids]))
    for part in chunks(wanted, 400):
        stmt = select(w.record_key, w.sf_id, w.fields, w.written_at).where(
            w.sobject == sobject, or_(w.record_key.in_(part), w.sf_id.in_(part))
        )
        for key, sf_id, fields, at in conn.execute(stmt):
            for name in (key, sf_id):
                if name and (name not in out or out[name][1] < at):
                    out[name] = (dict(fields or {}), at, sf_id)
    return out


def mark_done(
    conn: Connection,
    done: Sequence[tuple[RecordWrite, str | None, dict[str, Any]]],
    now: datetime,
) -> None:
    """Settle writes that succeeded (or had nothing left to write): (write, sf id, fields sent).

    The fields sent are merged into ``outbox_written``, the snapshot echo detection reads.
    """
    if not done:
        return
    item_params = [
        {
            "b_id": item_id,
            "b_result": sf_id,
            "b_written": to_json_safe(fields),
        }
        for write, sf_id, fields in done
        for item_id in write.item_ids
    ]
    c = ITEMS.c
    conn.execute(
        update(ITEMS)
        .where(c.id == bindparam("b_id"))
        .values(
            status="done",
            done_at=now,
            updated_at=now,
            last_error=None,
            error_code=None,
            error_fields=None,
            reason=None,
            result_id=bindparam("b_result"),
            written=bindparam("b_written"),
        ),
        item_params,
    )
    sent = [(w, sf_id, fields) for w, sf_id, fields in done if fields]
    if not sent:
        return
    by_sobject: dict[str, list[tuple[RecordWrite, str | None, dict[str, Any]]]] = {}
    for entry in sent:
        by_sobject.setdefault(entry[0].sobject, []).append(entry)
    for sobject, entries in by_sobject.items():
        known = written_for(conn, sobject, [w.record_key for w, _, _ in entries], [])
        rows = []
        for write, sf_id, fields in entries:
            before = known[write.record_key][0] if write.record_key in known else {}
            rows.append(
                {
                    "sobject": sobject,
                    "record_key": write.record_key,
                    "sf_id": sf_id or write.sf_id,
                    "entity": write.entity,
                    "fields": to_json_safe({**before, **fields}),
                    "item_id": write.items[-1].id,
                    "written_at": now,
                }
            )
        stmt = upsert_stmt(conn, WRITTEN)
        stmt = stmt.on_conflict_do_update(
            index_elements=["sobject", "record_key"],
            set_={k: stmt.excluded[k] for k in ("sf_id", "entity", "fields", "item_id",
                                                 "written_at")},
        )
        conn.execute(stmt, rows)


def mark_dead(
    conn: Connection,
    write: RecordWrite,
    code: str,
    message: str,
    fields: Sequence[str],
    now: datetime,
) -> None:
    """Park every item of ``write`` in the dead letter with Salesforce's code, message, fields."""
    c = ITEMS.c
    conn.execute(
        update(ITEMS)
        .where(c.id.in_(write.item_ids))
        .values(
            status="dead",
            error_code=code,
            last_error=message[:2000],
            error_fields=list(fields),
            attempts=c.attempts + 1,
            reason=None,
            updated_at=now,
        )
    )
    rows = [
        {
            "kind": "outbox",
            "entity": item.entity,
            "sobject": item.sobject,
            "sf_id": write.sf_id,
            "payload": to_json_safe(
                {
                    "item_id": item.id,
                    "operation": item.operation,
                    "record_key": item.record_key,
                    "fields": item.fields,
                    "error_fields": list(fields),
                }
            ),
            "code": code,
            "message": message[:2000],
            "attempts": item.attempts + 1,
            "created_at": now,
        }
        for item in write.items
    ]
    conn.execute(DEAD.insert(), rows)


def retry_later(
    conn: Connection,
    write: RecordWrite,
    code: str,
    message: str,
    now: datetime,
    *,
    max_attempts: int,
    base_seconds: float,
) -> bool:
    """Count a failed attempt; schedule the next one, or dead-letter after ``max_attempts``.

    Returns True when the write went to the dead letter.
    """
    attempts = max(i.attempts for i in write.items) + 1
    if attempts >= max_attempts:
        mark_dead(
            conn, write, code, f"gave up after {attempts} attempts: {message}", [], now
        )
        return True
    delay = min(MAX_BACKOFF, base_seconds * 2 ** (attempts - 1))
    c = ITEMS.c
    conn.execute(
        update(ITEMS)
        .where(c.id.in_(write.item_ids))
        .values(
            attempts=attempts,
            next_attempt_at=now + timedelta(seconds=delay),
            error_code=code,
            last_error=message[:2000],
            reason=None,
            updated_at=now,
        )
    )
    return False


def defer_for_outage(
    conn: Connection,
    now: datetime,
    code: str,
    message: str,
    *,
    base_seconds: float,
    max_seconds: float,
    retry_after: float | None = None,
    item_ids: Sequence[str] = (),
    all_due: bool = True,
    previous: float = 0.0,
) -> float:
    """Hold back pending writes while Salesforce is unavailable; returns the pause in seconds.

    An outage is the org's failure, not the records': no attempt is counted, so a long outage
    dead-letters nothing. The pause doubles while the outage lasts (from ``base_seconds`` up
    to ``max_seconds``; a longer Retry-After wins): the previous pause is read back from the
    held items themselves (``next_attempt_at - updated_at`` where ``reason`` marks an outage),
    so it carries across dispatches and restarts (``previous``: that pause as read before the
    batch in hand was leased, see ``paused_for``). Held back: ``item_ids`` (the batch in hand,
    leased) and, with ``all_due``, every due write (webhooks aside).
    """
    previous = max(paused_for(conn), previous)
    c = ITEMS.c
    delay = min(max_seconds, max(base_seconds, 2 * previous, 1.0))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_BACKOFF))
    which: Any = c.id.in_(list(item_ids))
    if all_due:
        which = or_(which, and_(_due(now), c.operation != "notify"))
    conn.execute(
        update(ITEMS)
        .where(c.status == "pending", which)
        .values(
            next_attempt_at=now + timedelta(seconds=delay),
            error_code=code,
            last_error=message[:2000],
            reason=OUTAGE_REASON,
            updated_at=now,
        )
    )
    return delay


def paused_for(conn: Connection, item_ids: Sequence[str] | None = None) -> float:
    """The last outage pause (seconds) of the held-back pending items (of ``item_ids``), 0 if
    none: the next pause doubles it."""
    c = ITEMS.c
    stmt = select(c.next_attempt_at, c.updated_at).where(
        c.status == "pending", c.reason == OUTAGE_REASON, c.next_attempt_at.is_not(None)
    )
    if item_ids is not None:
        stmt = stmt.where(c.id.in_(list(item_ids)))
    last = conn.execute(stmt.order_by(c.updated_at.desc()).limit(1)).first()
    return (last[0] - last[1]).total_seconds() if last is not None else 0.0


def paused_until(conn: Connection, now: datetime) -> datetime | None:
    """When the current outage pause ends (the latest held-back item's next attempt), or None
    when no write is held back by an outage past ``now``."""
    c = ITEMS.c
    until: datetime | None = conn.execute(
        select(func.max(c.next_attempt_at)).where(
            c.status == "pending", c.reason == OUTAGE_REASON, c.next_attempt_at > now
        )
    ).scalar()
    return until
