"""Echo suppression: our own write-backs coming back on the next poll fire nothing.

A diff is an echo when the integration user made it and every field it changed holds what the
outbox last wrote to that record (``outbox_written``). Anything else, a human edit in between
above all, stays a business event. The snapshot is updated either way (the caller persists the
diff as usual); only the change-log entry's ``echo`` flag differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Table, select

from connector.mapping import EntityMapping, as_local, same_value
from connector.store.bookkeeping import OutboxWritten
from connector.store.diffs import RecordDiff
from connector.store.records import sf_ids_by_local
from connector.store.sqlutil import chunks

__all__ = ["mark_echoes"]

WRITTEN: Table = OutboxWritten.__table__  # type: ignore[attr-defined]


def mark_echoes(
    conn: Connection,
    entity: EntityMapping,
    diffs: list[RecordDiff],
    integration_user_id: str | None,
) -> list[RecordDiff]:
    """``diffs`` with ``echo=True`` on those that only bring back what the outbox wrote."""
    if not integration_user_id:
        return diffs
    ours = [
        d for d in diffs
        if d.origin == integration_user_id and d.op in ("created", "updated") and not d.echo
    ]
    if not ours:
        return diffs
    written = _written(conn, entity.sobject, [d.sf_id for d in ours])
    if not written:
        return diffs
    lookup_ids = _lookup_sf_ids(conn, entity, [d for d in ours if d.sf_id in written])
    candidates = {id(d) for d in ours}
    out: list[RecordDiff] = []
    for d in diffs:
        fields = written.get(d.sf_id) if id(d) in candidates else None
        if fields is not None and _is_echo(entity, d, fields, lookup_ids):
            out.append(replace(d, echo=True))
        else:
            out.append(d)
    return out


def _written(conn: Connection, sobject: str, sf_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    w = WRITTEN.c
    out: dict[str, dict[str, Any]] = {}
    for part in chunks(list(dict.fromkeys(sf_ids))):
        stmt = (
            select(w.sf_id, w.fields)
            .where(w.sobject == sobject, w.sf_id.in_(part))
            .order_by(w.written_at)
        )
        for sf_id, fields in conn.execute(stmt):
            out.setdefault(str(sf_id), {}).update(fields or {})
    return out


def _lookup_sf_ids(
    conn: Connection, entity: EntityMapping, diffs: Sequence[RecordDiff]
) -> dict[tuple[str, int], str]:
    """(target entity, local id) -> sf_id for the lookup values the diffs carry."""
    out: dict[tuple[str, int], str] = {}
    for f in entity.fields.values():
        if f.lookup is None:
            continue
        wanted = sorted(
            {int(v) for d in diffs if isinstance(v := (d.new or {}).get(f.local), int)}
        )
        if wanted:
            target = f.lookup
            out.update({(target, i): s for i, s in sf_ids_by_local(conn, target, wanted).items()})
    return out


def _is_echo(
    entity: EntityMapping,
    d: RecordDiff,
    written: dict[str, Any],
    lookup_ids: dict[tuple[str, int], str],
) -> bool:
    new = d.new or {}
    for name in d.changed:
        f = entity.fields.get(name)
        if f is None:
            return False
        if f.crm not in written:
            if d.op == "created":
                continue  # a record we created: fields we did not send hold the org's defaults
            return False
        value = new.get(name)
        if f.lookup is not None and isinstance(value, int):
            theirs: Any = lookup_ids.get((f.lookup, value))
            mine: Any = written[f.crm]
        else:
            theirs = value
            mine = as_local(f, written[f.crm])
        if not same_value(theirs, mine):
            return False
    return True
