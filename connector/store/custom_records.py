"""Records of admin-defined entities, kept in the generic ``custom_record`` table.

``records.py`` calls these for every entity that has no table of its own (``is_custom``), so
sync, status and export treat a Contact added in mapping.yaml like a built-in entity. A record
is one row per (entity, sf_id); its mapped values are JSON (dates as ISO text, a lookup as the
target record's local id), merged on update so values the connector set locally survive.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, func, select, update

from connector.store.models import ENTITY_MODELS, CustomRecord
from connector.store.sqlutil import chunks, to_json_safe, upsert_stmt

if TYPE_CHECKING:
    from connector.store.records import RecordRow

__all__ = [
    "CUSTOM",
    "count",
    "is_custom",
    "iter_rows",
    "local_ids",
    "mark_deleted",
    "resolve_links",
    "upsert_rows",
]

CUSTOM: Table = CustomRecord.__table__  # type: ignore[attr-defined]
_SYSTEM = ("sf_modstamp", "sf_last_modified_by", "is_deleted", "created_at", "updated_at")


def is_custom(entity: str) -> bool:
    """True for an entity without a table of its own (its records live in custom_record)."""
    return entity not in ENTITY_MODELS


def local_ids(conn: Connection, entity: str, sf_ids: Sequence[str]) -> dict[str, int]:
    """Local ids of ``entity`` records by sf_id (only those that exist)."""
    c = CUSTOM.c
    out: dict[str, int] = {}
    for part in chunks(sf_ids):
        stmt = select(c.sf_id, c.id).where(c.entity == entity, c.sf_id.in_(part))
        out.update({sf_id: local_id for sf_id, local_id in conn.execute(stmt)})
    return out


def resolve_links(
    conn: Connection, entity: str, wanted: Sequence[str], now: datetime
) -> dict[str, int]:
    """Local ids by sf_id, inserting placeholder rows (no values yet) for unknown ones."""
    found = local_ids(conn, entity, wanted)
    missing = [s for s in wanted if s not in found]
    if missing:
        stmt = upsert_stmt(conn, CUSTOM).on_conflict_do_nothing(
            index_elements=["entity", "sf_id"]
        )
        conn.execute(
            stmt,
            [
                {"entity": entity, "sf_id": s, "created_at": now, "updated_at": now}
                for s in missing
            ],
        )
        found.update(local_ids(conn, entity, missing))
    return found


def _current_values(conn: Connection, entity: str, sf_ids: Sequence[str]) -> dict[str, Any]:
    c = CUSTOM.c
    out: dict[str, Any] = {}
    for part in chunks(sf_ids):
        stmt = select(c.sf_id, c["values"]).where(c.entity == entity, c.sf_id.in_(part))
        out.update({sf_id: values or {} for sf_id, values in conn.execute(stmt)})
    return out


def upsert_rows(
    conn: Connection, entity: str, rows: Sequence[RecordRow], now: datetime
) -> dict[str, int]:
    """Insert or update ``rows`` (one per sf_id) of ``entity``; sf_id -> local id.

    New values replace old ones key by key; keys a row does not carry are kept, as the
    columns of a built-in table are.
    """
    sf_ids = [r.sf_id for r in rows]
    current = _current_values(conn, entity, sf_ids)
    params = [
        {
            "entity": entity,
            "sf_id": r.sf_id,
            "sf_modstamp": r.modstamp,
            "sf_last_modified_by": r.last_modified_by,
            "is_deleted": r.deleted,
            "values": {**current.get(r.sf_id, {}), **to_json_safe(r.values)},
            "created_at": now,
            "updated_at": now,
        }
        for r in rows
    ]
    stmt = upsert_stmt(conn, CUSTOM)
    keep = ("sf_modstamp", "sf_last_modified_by", "is_deleted", "values", "updated_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=["entity", "sf_id"], set_={k: stmt.excluded[k] for k in keep}
    )
    conn.execute(stmt, params)
    return local_ids(conn, entity, sf_ids)


def mark_deleted(conn: Connection, entity: str, sf_ids: Sequence[str], now: datetime) -> int:
    """Flag records of ``entity`` deleted; returns how many were newly flagged."""
    c = CUSTOM.c
    flagged = 0
    for part in chunks(sf_ids):
        result = conn.execute(
            update(CUSTOM)
            .where(c.entity == entity, c.sf_id.in_(part), c.is_deleted.is_(False))
            .values(is_deleted=True, updated_at=now)
        )
        flagged += result.rowcount
    return flagged


def count(conn: Connection, entity: str, *, include_deleted: bool = False) -> int:
    """How many records ``entity`` has (placeholders included; deleted ones only if asked)."""
    stmt = select(func.count()).select_from(CUSTOM).where(CUSTOM.c.entity == entity)
    if not include_deleted:
        stmt = stmt.where(CUSTOM.c.is_deleted.is_(False))
    return int(conn.execute(stmt).scalar_one())


def iter_rows(
    conn: Connection,
    entity: str,
    *,
    batch: int = 1000,
    fields: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of ``entity`` in id order as flat dicts: id, sf_id, values, system columns.

    ``fields`` fixes the value keys (missing ones are None) so every row has the same shape;
    without it a row carries the keys its values have. Pages by id: constant memory.
    """
    c = CUSTOM.c
    last = 0
    while True:
        stmt = (
            select(c.id, c.sf_id, c["values"], *(c[k] for k in _SYSTEM))
            .where(c.entity == entity, c.id > last)
            .order_by(c.id)
            .limit(batch)
        )
        page = conn.execute(stmt).mappings().all()
        for row in page:
            values: Mapping[str, Any] = row["values"] or {}
            keys = list(fields) if fields is not None else list(values)
            yield {
                "id": row["id"],
                "sf_id": row["sf_id"],
                **{k: values.get(k) for k in keys},
                **{k: row[k] for k in _SYSTEM},
            }
        if len(page) < batch:
            return
        last = page[-1]["id"]
