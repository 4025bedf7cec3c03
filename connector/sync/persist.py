"""Step 4 of the inbound page pipeline: write rows and snapshots, park rejects, log the diffs.

Rows are written inside a savepoint. A row the store still rejects (a constraint, a value no
check foresaw) rolls the savepoint back; the rows are then written in halves, recursively, so
the bad rows end in the dead letter queue with the store's one-line reason and the others
commit. ``log_changes`` is the one place a page's diffs are final, just before the change log.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from connector.logs import get_logger
from connector.mapping import EntityMapping, diff, fingerprint
from connector.store import repo
from connector.store.bookkeeping import DeadLetter
from connector.store.diffs import Op, RecordDiff
from connector.store.stream import append_changes
from connector.sync.classify import Incoming
from connector.sync.echo import mark_echoes
from connector.sync.maprows import Mapped, Rejected
from connector.sync.reasons import safe_reason
from connector.sync.resolve import resolve_lookups

__all__ = [
    "Written",
    "jsonable",
    "log_changes",
    "park",
    "plan_deletes",
    "plan_diffs",
    "plan_records",
    "write_isolated",
]

log = get_logger("connector.sync")


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Mapped values in the JSON form snapshots and the change log keep (dates as ISO text)."""
    out = dict(values)
    for k, v in values.items():
        t = type(v)
        if t is date or t is datetime:
            out[k] = v.isoformat()
    return out


def plan_records(
    mapped: Sequence[Mapped], resolved: Sequence[dict[str, Any]]
) -> tuple[list[repo.RecordRow], list[dict[str, Any]]]:
    """The rows to upsert (pure), and each row's values in JSON form (snapshot, change log)."""
    records: list[repo.RecordRow] = []
    news: list[dict[str, Any]] = []
    for m, local in zip(mapped, resolved, strict=True):
        inc = m.incoming
        new = jsonable(local)
        news.append(new)
        records.append(
            repo.RecordRow(
                sf_id=inc.sf_id,
                values=local,
                modstamp=inc.stamp,
                last_modified_by=inc.row.get("LastModifiedById"),
                deleted=False,
                hash=fingerprint(m.values),
                snapshot_values=new,
            )
        )
    return records, news


def plan_diffs(
    entity: EntityMapping,
    mapped: Sequence[Mapped],
    news: Sequence[dict[str, Any]],
    *,
    source: str,
    ids: Mapping[str, int] | None = None,
) -> list[RecordDiff]:
    """The diffs the rows make (pure); a save that changed no mapped field makes none."""
    diffs: list[RecordDiff] = []
    for m, new in zip(mapped, news, strict=True):
        inc = m.incoming
        snap = inc.snap
        old = None if snap is None or snap.deleted else snap.values
        op: Op = "created" if old is None else "updated"
        if snap is not None and snap.deleted:
            op = "undeleted"
        if old is None:  # every field that has a value (what diff(None, new) says, faster)
            changed = tuple([k for k, v in new.items() if v is not None])  # keys: str
        else:
            changed = tuple(diff(old, new))
        if op == "updated" and not changed:
            continue  # the snapshot's stamp moves; nothing to tell consumers
        diffs.append(
            RecordDiff(
                entity=entity.name,
                sf_id=inc.sf_id,
                op=op,
                old=old,
                new=new,
                changed=changed,
                origin=inc.row.get("LastModifiedById"),
                modstamp=inc.stamp,
                local_id=ids.get(inc.sf_id) if ids is not None else None,
                source=source,
            )
        )
    return diffs


def plan_deletes(
    entity: EntityMapping, deletes: Sequence[Incoming], *, source: str
) -> list[RecordDiff]:
    """One "deleted" diff per live record the page says is deleted (pure)."""
    return [
        RecordDiff(
            entity=entity.name,
            sf_id=inc.sf_id,
            op="deleted",
            old=inc.snap.values if inc.snap else None,
            new=None,
            changed=(),
            origin=inc.row.get("LastModifiedById"),
            modstamp=inc.stamp,
            local_id=inc.snap.local_id if inc.snap else None,
            source=source,
        )
        for inc in deletes
    ]


@dataclass
class Written:
    """What the store took from a batch of mapped rows, and what it refused."""

    diffs: list[RecordDiff] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)


def _row_problem(err: BaseException) -> bool:
    """True when ``err`` is about the data written (so one row may be to blame).

    A lost connection, a full disk or a missing table is not: it would fail every row, and
    dead-lettering them all would lose the page; those propagate and the page is replayed.
    """
    if isinstance(err, DataError | IntegrityError):
        return True
    if isinstance(err, DBAPIError):
        return False
    return isinstance(err, StatementError | ValueError | OverflowError | TypeError)


def write_isolated(
    conn: Connection, entity: EntityMapping, mapped: Sequence[Mapped], *, source: str
) -> Written:
    """Resolve and upsert ``mapped`` in a savepoint; isolate rows the store rejects."""
    if not mapped:
        return Written()
    try:
        with conn.begin_nested():
            resolved = resolve_lookups(conn, entity, mapped)
            records, news = plan_records(mapped, resolved)
            ids = repo.upsert_records(conn, entity.name, records)
        return Written(diffs=plan_diffs(entity, mapped, news, source=source, ids=ids), ids=ids)
    except Exception as err:
        if not _row_problem(err):
            raise
        if len(mapped) == 1:
            reason = f"{entity.name} ({entity.sobject}): the store refused the row: "
            return Written(
                rejected=[Rejected(mapped[0].incoming, "STORE_REJECTED", reason + safe_reason(err))]
            )
        log.warning("sync.page_rejected", entity=entity.name, rows=len(mapped))
    mid = len(mapped) // 2
    left = write_isolated(conn, entity, mapped[:mid], source=source)
    right = write_isolated(conn, entity, mapped[mid:], source=source)
    return Written(
        diffs=left.diffs + right.diffs,
        ids={**left.ids, **right.ids},
        rejected=left.rejected + right.rejected,
    )


def _storable(value: Any) -> Any:
    """A dead letter's payload as any store keeps it: NUL and non-finite numbers as text."""
    if isinstance(value, str):
        return value.replace("\x00", "\\u0000") if "\x00" in value else value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


DEAD: Any = DeadLetter.__table__  # type: ignore[attr-defined]


def park(conn: Connection, entity: EntityMapping, rejected: Sequence[Rejected]) -> int:
    """Dead-letter each rejected row once per version (the lag window re-reads rows)."""
    if not rejected:
        return 0
    c = DEAD.c
    open_ = conn.execute(
        select(c.sf_id, c.payload).where(
            c.kind == "inbound",
            c.entity == entity.name,
            c.resolved_at.is_(None),
            c.sf_id.in_([r.incoming.sf_id for r in rejected]),
        )
    ).all()
    known = {(sf_id, (payload or {}).get("SystemModstamp")) for sf_id, payload in open_}
    for r in rejected:
        row = r.incoming.row
        if (r.incoming.sf_id, row.get("SystemModstamp")) in known:
            continue
        repo.add_dead_letter(
            conn,
            kind="inbound",
            entity=entity.name,
            sobject=entity.sobject,
            sf_id=r.incoming.sf_id,
            payload=_storable({k: v for k, v in row.items() if k != "attributes"}),
            code=r.code,
            message=r.message,
        )
    return len(rejected)


def log_changes(
    conn: Connection,
    entity: EntityMapping,
    diffs: Sequence[RecordDiff],
    ids: dict[str, int],
    *,
    cycle_id: str,
    integration_user_id: str | None = None,
) -> list[RecordDiff]:
    """Give each diff its local id and append them to the change log; returns them.

    This is the one place a page's diffs are final before they are logged: echo marking of
    our own writes coming back belongs right before ``append_changes``.
    """
    final = [
        d
        if d.local_id is not None or d.sf_id not in ids
        else dataclasses.replace(d, local_id=ids[d.sf_id])
        for d in diffs
    ]
    # our own write-backs coming back are flagged: they update the snapshot and fire nothing
    final = mark_echoes(conn, entity, final, integration_user_id)
    append_changes(conn, final, cycle_id=cycle_id)
    return final
