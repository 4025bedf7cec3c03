"""Sync bookkeeping in batches: change log, per-object state, dead letters, API usage, runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update

from connector.store.bookkeeping import ApiUsageSample, DeadLetter, SyncRun, SyncState
from connector.store.sqlutil import chunks, to_json_safe, upsert_stmt
from connector.store.types import utcnow

__all__ = [
    "DeadLetterRow",
    "SyncStateRow",
    "abort_running_runs",
    "add_dead_letter",
    "all_states",
    "count_dead_letters",
    "dead_letters_by_entity",
    "finish_sync_run",
    "get_state",
    "latest_api_usage",
    "latest_sync_run",
    "list_dead_letters",
    "list_sync_runs",
    "record_api_usage",
    "resolve_dead_letters",
    "save_state",
    "start_sync_run",
]

SYNC_STATE: Table = SyncState.__table__  # type: ignore[attr-defined]
DEAD_LETTER: Table = DeadLetter.__table__  # type: ignore[attr-defined]
API_USAGE: Table = ApiUsageSample.__table__  # type: ignore[attr-defined]
SYNC_RUN: Table = SyncRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SyncStateRow:
    """Per-object sync progress (see bookkeeping.SyncState)."""

    sobject: str
    cursor: datetime | None = None
    deleted_cursor: datetime | None = None
    backfill: dict[str, Any] | None = None
    last_run_at: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    rows_total: int | None = None


@dataclass(frozen=True)
class DeadLetterRow:
    """A parked record or write (see bookkeeping.DeadLetter)."""

    id: int
    kind: str
    entity: str | None
    sobject: str | None
    sf_id: str | None
    payload: dict[str, Any] | None
    code: str | None
    message: str | None
    attempts: int
    created_at: datetime
    resolved_at: datetime | None


STATE_FIELDS = frozenset(f.name for f in fields(SyncStateRow)) - {"sobject"}


def get_state(conn: Connection, sobject: str) -> SyncStateRow | None:
    """The saved progress of ``sobject`` (the sync keys it by entity name), if any."""
    row = conn.execute(select(SYNC_STATE).where(SYNC_STATE.c.sobject == sobject)).mappings().first()
    return None if row is None else SyncStateRow(**row)


def all_states(conn: Connection) -> dict[str, SyncStateRow]:
    """Every saved progress, by entity name (one read: `status` shows them all)."""
    return {str(row["sobject"]): SyncStateRow(**row)
            for row in conn.execute(select(SYNC_STATE)).mappings()}


def save_state(conn: Connection, sobject: str, **values: Any) -> None:
    """Create or update the progress of ``sobject``: only the fields given change."""
    unknown = set(values) - STATE_FIELDS
    if unknown:
        raise TypeError(f"unknown sync state fields: {', '.join(sorted(unknown))}")
    stmt = upsert_stmt(conn, SYNC_STATE).values(sobject=sobject, **values)
    if values:
        stmt = stmt.on_conflict_do_update(
            index_elements=["sobject"], set_={k: stmt.excluded[k] for k in values}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["sobject"])
    conn.execute(stmt)


def add_dead_letter(
    conn: Connection,
    *,
    kind: str,
    entity: str | None = None,
    sobject: str | None = None,
    sf_id: str | None = None,
    payload: dict[str, Any] | None = None,
    code: str | None = None,
    message: str | None = None,
    attempts: int = 0,
) -> int:
    """Park a record or write that could not be processed; returns the dead letter's id."""
    result = conn.execute(
        insert(DEAD_LETTER).values(
            kind=kind,
            entity=entity,
            sobject=sobject,
            sf_id=sf_id,
            payload=to_json_safe(payload) if payload is not None else None,
            code=code,
            message=message,
            attempts=attempts,
            created_at=utcnow(),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _dead_filter(entity: str | None, include_resolved: bool) -> list[Any]:
    where: list[Any] = []
    if entity is not None:
        where.append(DEAD_LETTER.c.entity == entity)
    if not include_resolved:
        where.append(DEAD_LETTER.c.resolved_at.is_(None))
    return where


def list_dead_letters(
    conn: Connection,
    *,
    entity: str | None = None,
    include_resolved: bool = False,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[DeadLetterRow]:
    """Dead letters, oldest first (or newest); unresolved only unless ``include_resolved``."""
    order = DEAD_LETTER.c.id.desc() if newest_first else DEAD_LETTER.c.id
    stmt = (
        select(DEAD_LETTER)
        .where(*_dead_filter(entity, include_resolved))
        .order_by(order)
        .limit(limit)
    )
    return [DeadLetterRow(**row) for row in conn.execute(stmt).mappings()]


def count_dead_letters(
    conn: Connection, *, entity: str | None = None, include_resolved: bool = False
) -> int:
    """How many dead letters there are (unresolved only unless ``include_resolved``)."""
    stmt = (
        select(func.count()).select_from(DEAD_LETTER).where(*_dead_filter(entity, include_resolved))
    )
    return int(conn.execute(stmt).scalar_one())


def dead_letters_by_entity(conn: Connection) -> dict[str, int]:
    """Unresolved dead letters per entity (one grouped read)."""
    stmt = (select(DEAD_LETTER.c.entity, func.count()).where(*_dead_filter(None, False))
            .group_by(DEAD_LETTER.c.entity))
    return {str(entity): int(n) for entity, n in conn.execute(stmt)}


def resolve_dead_letters(conn: Connection, ids: Sequence[int]) -> int:
    """Mark dead letters resolved (handled or dropped); returns how many changed."""
    now = utcnow()
    changed = 0
    for part in chunks(list(ids)):
        result = conn.execute(
            update(DEAD_LETTER)
            .where(DEAD_LETTER.c.id.in_(part), DEAD_LETTER.c.resolved_at.is_(None))
            .values(resolved_at=now)
        )
        changed += result.rowcount
    return changed


def record_api_usage(
    conn: Connection,
    *,
    used: int | None,
    max: int | None,
    calls: int | None,
    at: datetime | None = None,
) -> None:
    """Store one sample of the org's API usage and this connector's call count."""
    conn.execute(insert(API_USAGE).values(at=at or utcnow(), used=used, max=max, calls=calls))


def latest_api_usage(conn: Connection) -> dict[str, Any] | None:
    """The newest usage sample as ``{"at", "used", "max", "calls"}``, or None."""
    c = API_USAGE.c
    stmt = select(c.at, c.used, c.max, c.calls).order_by(c.at.desc(), c.id.desc()).limit(1)
    row = conn.execute(stmt).mappings().first()
    return None if row is None else dict(row)


def start_sync_run(
    conn: Connection, run_id: str, kind: str, *, started_at: datetime | None = None
) -> None:
    """Record that a run began (status "running")."""
    conn.execute(
        insert(SYNC_RUN).values(
            id=run_id, kind=kind, started_at=started_at or utcnow(), status="running"
        )
    )


def finish_sync_run(
    conn: Connection,
    run_id: str,
    *,
    status: str,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record how a run ended."""
    conn.execute(
        update(SYNC_RUN)
        .where(SYNC_RUN.c.id == run_id)
        .values(finished_at=utcnow(), status=status, counts=counts, error=error)
    )


def abort_running_runs(conn: Connection, reason: str) -> int:
    """Close the runs still ``running``: a new writer took the store's lease, so their
    process is gone or fenced and can never finish them (status "aborted"). Returns how many."""
    result = conn.execute(
        update(SYNC_RUN)
        .where(SYNC_RUN.c.status == "running")
        .values(finished_at=utcnow(), status="aborted", error=reason)
    )
    return int(result.rowcount or 0)
def _run_row(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(row).items()}


def list_sync_runs(
    conn: Connection, *, kind: str | None = None, limit: int = 50, before: str | None = None
) -> list[dict[str, Any]]:
    """Runs newest first, as ``latest_sync_run`` gives one (``kind`` only; ``before``: runs
    that started before the run with that id, for paging)."""
    c = SYNC_RUN.c
    stmt = select(SYNC_RUN).order_by(c.started_at.desc(), c.id.desc()).limit(limit)
    if kind:
        stmt = stmt.where(c.kind == kind)
    if before:
        start = conn.execute(select(c.started_at).where(c.id == before)).scalar()
        if start is not None:
            stmt = stmt.where(
                (c.started_at < start) | ((c.started_at == start) & (c.id < before))
            )
    return [_run_row(r) for r in conn.execute(stmt).mappings()]


def latest_sync_run(conn: Connection) -> dict[str, Any] | None:
    """The newest run as ``{"id", "kind", "started_at", "finished_at", "status", "counts",
    "error"}`` (datetimes as ISO text), or None."""
    c = SYNC_RUN.c
    row = conn.execute(select(SYNC_RUN).order_by(c.started_at.desc()).limit(1)).mappings().first()
    return None if row is None else _run_row(row)
