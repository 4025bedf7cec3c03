"""The change log read as an ordered, durable stream, and the one writer of diffs into it.

Every path that changes the store (poll, backfill, reconcile, push, local PRM edits) records its
diffs with ``append_changes``. Consumers (outbox-local, programs, triggers) run with ``consume``:
it reads a batch after the consumer's offset, calls the consumer's handler inside one
transaction and commits the handler's effects with the new offset (invariant 2), so a crash
replays a batch and never skips or doubles one. ``read_changes`` and ``scan_changes`` are its
parts, for readers that commit nothing (``triggers replay``).

The sequence is ``change_log.id``. It is gap-free in commit order only because one process
writes a store at a time (the run lock, invariant 7).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, func, insert, select

from connector.store.bookkeeping import ChangeLog, ConsumerOffset
from connector.store.diffs import RecordDiff
from connector.store.sqlutil import executemany, to_json_safe, upsert_stmt
from connector.store.types import utcnow

__all__ = [
    "LATEST_SEQ",
    "SOURCES",
    "ChangeBatch",
    "ChangeEvent",
    "ChangeFilter",
    "append_changes",
    "commit_offset",
    "consume",
    "consumer_lag",
    "count_changes",
    "get_offset",
    "latest_seq",
    "read_changes",
    "scan_changes",
]

SOURCES = ("backfill", "poll", "reconcile", "push", "local")

CHANGE_LOG: Table = ChangeLog.__table__  # type: ignore[attr-defined]
OFFSETS: Table = ConsumerOffset.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ChangeEvent:
    """One change-log entry as a consumer sees it (old/new are JSON-safe mapped values)."""

    seq: int
    cycle_id: str
    entity: str
    sf_id: str | None
    local_id: int | None
    op: str  # created | updated | deleted | undeleted
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    changed: tuple[str, ...]
    origin: str | None  # the Salesforce user who made it (None for local changes)
    source: str  # one of SOURCES
    echo: bool  # our own write coming back: consumers must not act on it
    modstamp: datetime | None
    recorded_at: datetime


def append_changes(conn: Connection, diffs: Sequence[RecordDiff], *, cycle_id: str) -> int:
    """Append ``diffs`` to the change log in the caller's transaction; returns how many."""
    if not diffs:
        return 0
    now = utcnow()
    params = []
    for d in diffs:
        if d.source not in SOURCES:
            raise ValueError(f"unknown change source {d.source!r}")
        params.append(
            {
                "cycle_id": cycle_id,
                "entity": d.entity,
                "sf_id": d.sf_id,
                "local_id": d.local_id,
                "op": d.op,
                "old": to_json_safe(d.old) if d.old is not None else None,
                "new": to_json_safe(d.new) if d.new is not None else None,
                "changed": list(d.changed),
                "origin": d.origin,
                "modstamp": d.modstamp,
                "recorded_at": now,
                "source": d.source,
                "echo": d.echo,
            }
        )
    executemany(conn, insert(CHANGE_LOG), params)
    return len(params)


def get_offset(conn: Connection, consumer: str) -> int:
    """The last sequence ``consumer`` has handled (0 for a consumer never seen)."""
    seq = conn.execute(select(OFFSETS.c.seq).where(OFFSETS.c.consumer == consumer)).scalar()
    return int(seq or 0)


def commit_offset(conn: Connection, consumer: str, seq: int) -> None:
    """Move ``consumer``'s offset to ``seq`` (never backwards), in the caller's transaction."""
    current = get_offset(conn, consumer)
    if seq <= current and current:
        return
    stmt = upsert_stmt(conn, OFFSETS).values(consumer=consumer, seq=seq, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=["consumer"], set_={"seq": stmt.excluded.seq, "updated_at": utcnow()}
    )
    conn.execute(stmt)


def latest_seq(conn: Connection) -> int:
    """The newest sequence in the change log (0 when empty)."""
    return int(conn.execute(LATEST_SEQ).scalar() or 0)


# built once: a statement object reused keeps its cache key (each enqueue reads it, as a
# subquery beside the outbox's top sequence: one round trip)
LATEST_SEQ = select(func.max(CHANGE_LOG.c.id))


def consumer_lag(conn: Connection) -> dict[str, Any]:
    """The log's newest sequence and, per consumer, its offset and how far it is behind.

    ``behind`` is the distance in sequence numbers, ``latest_seq - seq`` (never below 0): two
    indexed reads in all, however long the log. It is 0 exactly when the consumer has handled
    the newest entry; otherwise it is the number of entries it has yet to handle, or more
    where sequence numbers were skipped (PostgreSQL does not reuse the number of a rolled-back
    insert). ``status``, ``status --json``, ``/metrics`` and the operations page all show this
    one figure (for ``status``: a consumer that stays behind is stuck or failing)."""
    latest = latest_seq(conn)
    rows = conn.execute(select(OFFSETS.c.consumer, OFFSETS.c.seq, OFFSETS.c.updated_at)
                        .order_by(OFFSETS.c.consumer)).all()
    consumers = [
        {"consumer": consumer, "seq": int(seq), "behind": max(0, latest - int(seq)),
         "updated_at": updated_at.isoformat() if updated_at else None}
        for consumer, seq, updated_at in rows
    ]
    return {"latest_seq": latest, "consumers": consumers}


def _filtered(
    stmt: Any,
    *,
    sources: Collection[str] | None = None,
    entities: Collection[str] | None = None,
    ops: Collection[str] | None = None,
    echo: bool | None = None,
) -> Any:
    c = CHANGE_LOG.c
    if sources is not None:
        stmt = stmt.where(c.source.in_(sorted(sources)))
    if entities is not None:
        stmt = stmt.where(c.entity.in_(sorted(entities)))
    if ops is not None:
        stmt = stmt.where(c.op.in_(sorted(ops)))
    if echo is not None:
        stmt = stmt.where(c.echo.is_(echo))
    return stmt


def read_changes(
    conn: Connection,
    consumer: str,
    *,
    limit: int = 1000,
    after: int | None = None,
    sources: Collection[str] | None = None,
    entities: Collection[str] | None = None,
    ops: Collection[str] | None = None,
    echo: bool | None = None,
    upto: int | None = None,
) -> list[ChangeEvent]:
    """The next ``limit`` entries after ``consumer``'s offset (or ``after``), oldest first.

    ``sources``/``entities``/``ops``/``echo`` filter what is returned, in SQL; ``upto`` is
    the last sequence to consider. The caller still commits the offset of the last entry it
    examined (``scan_changes`` works that out for a filtered read).
    """
    start = get_offset(conn, consumer) if after is None else after
    c = CHANGE_LOG.c
    stmt = select(CHANGE_LOG).where(c.id > start)
    if upto is not None:
        stmt = stmt.where(c.id <= upto)
    stmt = _filtered(stmt, sources=sources, entities=entities, ops=ops, echo=echo)
    stmt = stmt.order_by(c.id).limit(limit)
    return [
        ChangeEvent(
            seq=row["id"],
            cycle_id=row["cycle_id"],
            entity=row["entity"],
            sf_id=row["sf_id"],
            local_id=row["local_id"],
            op=row["op"],
            old=row["old"],
            new=row["new"],
            changed=tuple(row["changed"] or ()),
            origin=row["origin"],
            source=row["source"],
            echo=bool(row["echo"]),
            modstamp=row["modstamp"],
            recorded_at=row["recorded_at"],
        )
        for row in conn.execute(stmt).mappings()
    ]


@dataclass(frozen=True)
class ChangeBatch:
    """A filtered read of the change log: the entries that passed the filter, and the range
    ``(start, upto]`` that was examined. Committing ``upto`` as the offset moves past the
    entries the filter skipped, exactly once, with the batch's effects."""

    events: list[ChangeEvent]
    start: int
    upto: int

    @property
    def empty(self) -> bool:
        """True when the range holds no entry at all (the consumer is at the log's end)."""
        return self.upto <= self.start


def scan_changes(
    conn: Connection,
    consumer: str,
    *,
    limit: int = 1000,
    window: int | None = None,
    sources: Collection[str] | None = None,
    entities: Collection[str] | None = None,
    ops: Collection[str] | None = None,
    echo: bool | None = None,
) -> ChangeBatch:
    """The next entries after ``consumer``'s offset that pass the filter (at most ``limit``),
    and the sequence to commit as the new offset.

    The range examined ends at the log's current end (at most ``window`` sequences past the
    offset when given); when ``limit`` entries pass the filter, it ends at the last of them
    instead. Entries in the range that the filter skipped are examined too: the consumer has
    nothing to do for them, so committing ``upto`` with its effects is exactly-once.
    """
    start = get_offset(conn, consumer)
    top = latest_seq(conn)
    if window is not None:
        top = min(top, start + window)
    if top <= start:
        return ChangeBatch([], start, start)
    events = read_changes(
        conn, consumer, limit=limit, after=start, upto=top, sources=sources,
        entities=entities, ops=ops, echo=echo,
    )
    upto = events[-1].seq if len(events) >= limit else top
    return ChangeBatch(events, start, upto)


def count_changes(conn: Connection, after: int, upto: int) -> tuple[int, int]:
    """How many entries the range ``(after, upto]`` holds, and how many of them are echoes."""
    c = CHANGE_LOG.c
    echoes = func.coalesce(func.sum(case((c.echo.is_(True), 1), else_=0)), 0)
    row = conn.execute(
        select(func.count(), echoes).where(c.id > after, c.id <= upto)
    ).one()
    return int(row[0]), int(row[1])


@dataclass(frozen=True)
class ChangeFilter:
    """What a consumer reads of the change log (in SQL) and how much per batch.

    ``None`` lets everything through. At most ``limit`` entries pass per batch; a batch
    examines at most ``window`` sequences past the offset when given (entries the filter
    skips are moved past with the batch).
    """

    sources: Collection[str] | None = None
    entities: Collection[str] | None = None
    ops: Collection[str] | None = None
    echo: bool | None = None
    limit: int = 1000
    window: int | None = None


# (the batch's transaction, the batch) -> None: the consumer's effects, written on ``conn``
BatchHandler = Callable[[Connection, ChangeBatch], None]


def consume(
    engine: Engine, consumer: str, filter: ChangeFilter, handle_batch: BatchHandler
) -> int:
    """Run ``consumer`` from its offset to the log's end; returns how many batches it took.

    Each batch is one transaction: ``scan_changes`` with ``filter``, ``handle_batch(conn,
    batch)`` (which writes the consumer's effects on ``conn``), then ``commit_offset`` to the
    end of the range examined. A handler that raises rolls its batch back with the offset, so
    the batch is read again next time (invariant 2). A batch whose entries all fail the filter
    still calls the handler (with no events) so that it can count what it moved past.
    """
    batches = 0
    while True:
        with engine.begin() as conn:
            batch = scan_changes(
                conn, consumer, limit=filter.limit, window=filter.window,
                sources=filter.sources, entities=filter.entities, ops=filter.ops,
                echo=filter.echo,
            )
            if batch.empty:
                return batches
            handle_batch(conn, batch)
            commit_offset(conn, consumer, batch.upto)
        batches += 1
