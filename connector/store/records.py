"""Entity rows and their snapshots, in batches: upsert, link placeholders, deletes, export.

Built-in entities have tables of their own (models.py); an entity only mapping.yaml names is
kept in the generic ``custom_record`` table (custom_records.py). Every function here takes
either kind, so sync, status and export need not know which one an entity is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select, update

from connector.store import custom_records as custom
from connector.store.bookkeeping import Snapshot
from connector.store.customer import derived_values
from connector.store.models import column_types, entity_table, lookup_targets
from connector.store.sqlutil import chunks, executemany, to_json_safe, upsert_stmt
from connector.store.types import utcnow

__all__ = [
    "RecordRow",
    "SnapshotRow",
    "count_entity",
    "iter_entity",
    "live_snapshot_ids",
    "load_snapshots",
    "mark_deleted",
    "resolve_links",
    "sf_ids_by_local",
    "upsert_records",
]

SNAPSHOT: Table = Snapshot.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SnapshotRow:
    """The last mapped values seen for a record (JSON-safe), and where its local row is."""

    values: dict[str, Any]
    modstamp: datetime | None
    hash: str | None
    deleted: bool
    local_id: int | None


@dataclass(frozen=True)
class RecordRow:
    """One record to upsert: typed local values (lookups already local ids) plus system fields."""

    sf_id: str
    values: dict[str, Any] = field(default_factory=dict)
    modstamp: datetime | None = None
    last_modified_by: str | None = None
    deleted: bool = False
    hash: str | None = None
    # The values in JSON form when the caller has them already (else derived from values).
    snapshot_values: dict[str, Any] | None = None


def _distinct(sf_ids: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(s for s in sf_ids if s))


def _local_ids(conn: Connection, table: Table, sf_ids: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in chunks(sf_ids):
        stmt = select(table.c.sf_id, table.c.id).where(table.c.sf_id.in_(part))
        out.update({sf_id: local_id for sf_id, local_id in conn.execute(stmt).all()})
    return out


def load_snapshots(conn: Connection, entity: str, sf_ids: Iterable[str]) -> dict[str, SnapshotRow]:
    """Snapshots of the given records of ``entity`` that exist, by sf_id."""
    out: dict[str, SnapshotRow] = {}
    c = SNAPSHOT.c
    for part in chunks(_distinct(sf_ids)):
        # c["values"]: c.values is the column collection's own values() method
        stmt = select(c.sf_id, c["values"], c.modstamp, c.hash, c.deleted, c.local_id).where(
            c.entity == entity, c.sf_id.in_(part)
        )
        for row in conn.execute(stmt).mappings().all():
            out[row["sf_id"]] = SnapshotRow(
                values=row["values"] or {},
                modstamp=row["modstamp"],
                hash=row["hash"],
                deleted=bool(row["deleted"]),
                local_id=row["local_id"],
            )
    return out


def live_snapshot_ids(conn: Connection, entity: str) -> list[str]:
    """sf_ids of every record of ``entity`` whose snapshot is not deleted."""
    c = SNAPSHOT.c
    stmt = select(c.sf_id).where(c.entity == entity, c.deleted.is_(False)).order_by(c.sf_id)
    return list(conn.execute(stmt).scalars())


def resolve_links(conn: Connection, entity: str, sf_ids: Iterable[str]) -> dict[str, int]:
    """Local ids of ``entity`` records by sf_id, inserting placeholder rows for unknown ones."""
    wanted = _distinct(sf_ids)
    if custom.is_custom(entity):
        return custom.resolve_links(conn, entity, wanted, utcnow())
    table = entity_table(entity)
    found = _local_ids(conn, table, wanted)
    missing = [s for s in wanted if s not in found]
    if missing:
        now = utcnow()
        stmt = upsert_stmt(conn, table).on_conflict_do_nothing(index_elements=["sf_id"])
        conn.execute(stmt, [{"sf_id": s, "created_at": now, "updated_at": now} for s in missing])
        found.update(_local_ids(conn, table, missing))
    return found


def upsert_records(conn: Connection, entity: str, rows: Sequence[RecordRow]) -> dict[str, int]:
    """Insert or update rows of ``entity`` by sf_id, and their snapshots; sf_id -> local id.

    Values naming a column of the table are written to it; the others go to ``extra``
    (replacing what was there). Columns absent from a row's values are left as they are, so
    fields the connector computes locally survive an inbound update. The last row wins when
    an sf_id appears twice.
    """
    latest = {r.sf_id: r for r in rows}
    if not latest:
        return {}
    if custom.is_custom(entity):
        now = utcnow()
        ids = custom.upsert_rows(conn, entity, list(latest.values()), now)
        _upsert_snapshots(conn, entity, latest.values(), ids, now)
        return ids
    table = entity_table(entity)
    business = set(column_types(entity))
    now = utcnow()
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in latest.values():
        if business.issuperset(r.values):  # the usual row: every value has a column
            cols, extra = r.values, None
        else:
            cols = {k: v for k, v in r.values.items() if k in business}
            extra = {k: v for k, v in r.values.items() if k not in business}
        derived = derived_values(entity, cols)
        params = {
            **cols,
            **derived,
            "sf_id": r.sf_id,
            "sf_modstamp": r.modstamp,
            "sf_last_modified_by": r.last_modified_by,
            "is_deleted": r.deleted,
            "extra": to_json_safe(extra) if extra else None,
            "created_at": now,
            "updated_at": now,
        }
        groups[tuple(sorted([*cols, *derived]))].append(params)
    system = ("sf_modstamp", "sf_last_modified_by", "is_deleted", "extra", "updated_at")
    for keys, batch in groups.items():
        stmt = upsert_stmt(conn, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["sf_id"], set_={c: stmt.excluded[c] for c in (*system, *keys)}
        )
        executemany(conn, stmt, batch)
    ids = _local_ids(conn, table, list(latest))
    _upsert_snapshots(conn, entity, latest.values(), ids, now)
    return ids


def _upsert_snapshots(
    conn: Connection,
    entity: str,
    rows: Iterable[RecordRow],
    ids: dict[str, int],
    now: datetime,
) -> None:
    params = [
        {
            "entity": entity,
            "sf_id": r.sf_id,
            "values": r.snapshot_values
            if r.snapshot_values is not None
            else to_json_safe(r.values),
            "hash": r.hash,
            "modstamp": r.modstamp,
            "deleted": r.deleted,
            "local_id": ids.get(r.sf_id),
            "updated_at": now,
        }
        for r in rows
    ]
    stmt = upsert_stmt(conn, SNAPSHOT)
    keep = ("values", "hash", "modstamp", "deleted", "local_id", "updated_at")
    stmt = stmt.on_conflict_do_update(
        index_elements=["entity", "sf_id"], set_={c: stmt.excluded[c] for c in keep}
    )
    executemany(conn, stmt, params)


def mark_deleted(conn: Connection, entity: str, sf_ids: Iterable[str]) -> int:
    """Flag rows of ``entity`` (and their snapshots) deleted; returns rows newly flagged."""
    wanted = _distinct(sf_ids)
    now = utcnow()
    flagged = 0
    for part in chunks(wanted):
        if custom.is_custom(entity):
            flagged += custom.mark_deleted(conn, entity, part, now)
        else:
            table = entity_table(entity)
            result = conn.execute(
                update(table)
                .where(table.c.sf_id.in_(part), table.c.is_deleted.is_(False))
                .values(is_deleted=True, updated_at=now)
            )
            flagged += result.rowcount
        conn.execute(
            update(SNAPSHOT)
            .where(SNAPSHOT.c.entity == entity, SNAPSHOT.c.sf_id.in_(part))
            .values(deleted=True, updated_at=now)
        )
    return flagged


def iter_entity(
    conn: Connection,
    entity: str,
    batch: int = 1000,
    *,
    fields: Sequence[str] | None = None,
    lookups: Mapping[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every row of ``entity`` in id order, lookups also as ``<field>_sf_id``; constant memory.

    Pages by id (keyset), so memory stays at one page however large the table is.
    ``fields`` (the mapped local names) gives every row those keys, taken from the columns or,
    for fields without a column, from ``extra``; ``lookups`` (local field -> target entity)
    names lookups the store cannot see by itself (custom entities, extra fields).
    """
    if custom.is_custom(entity):
        pages = _pages(custom.iter_rows(conn, entity, batch=batch, fields=fields), batch)
    else:
        pages = _pages(_iter_table(conn, entity, batch), batch)
    known = {} if custom.is_custom(entity) else lookup_targets(entity)
    extra_lookups = {f: t for f, t in (lookups or {}).items() if f not in known}
    for page in pages:
        if fields is not None and not custom.is_custom(entity):
            for row in page:
                extra = row.get("extra") or {}
                for name in fields:
                    row.setdefault(name, extra.get(name))
        for name, target in extra_lookups.items():
            ids = {int(r[name]) for r in page if isinstance(r.get(name), int)}
            found = sf_ids_by_local(conn, target, sorted(ids))
            for row in page:
                row[f"{name}_sf_id"] = found.get(row.get(name))  # type: ignore[arg-type]
        yield from page


def _pages(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    for row in rows:
        page.append(row)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def sf_ids_by_local(conn: Connection, entity: str, ids: Sequence[int]) -> dict[int, str]:
    """sf_id of ``entity`` records by local id (the ones that have one): the one id-link
    lookup (lookup fields hold local ids; Salesforce wants its own)."""
    ids = list(dict.fromkeys(ids))
    table = custom.CUSTOM if custom.is_custom(entity) else entity_table(entity)
    out: dict[int, str] = {}
    for part in chunks(ids):
        stmt = select(table.c.id, table.c.sf_id).where(table.c.id.in_(part))
        if custom.is_custom(entity):
            stmt = stmt.where(table.c.entity == entity)
        out.update({local: sf for local, sf in conn.execute(stmt) if sf})
    return out


def _iter_table(conn: Connection, entity: str, batch: int) -> Iterator[dict[str, Any]]:
    table = entity_table(entity)
    joined: Any = table
    extra_cols = []
    for local_field, target in lookup_targets(entity).items():
        alias = entity_table(target).alias(f"lk_{local_field}")
        joined = joined.outerjoin(alias, alias.c.id == table.c[local_field])
        extra_cols.append(alias.c.sf_id.label(f"{local_field}_sf_id"))
    last = 0
    while True:
        stmt = (
            select(*table.c, *extra_cols)
            .select_from(joined)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(batch)
        )
        page = conn.execute(stmt).mappings().all()
        for row in page:
            yield dict(row)
        if len(page) < batch:
            return
        last = page[-1]["id"]


def count_entity(conn: Connection, entity: str, *, include_deleted: bool = False) -> int:
    """How many rows ``entity`` has (placeholders included; deleted ones only if asked)."""
    if custom.is_custom(entity):
        return custom.count(conn, entity, include_deleted=include_deleted)
    table = entity_table(entity)
    stmt = select(func.count()).select_from(table)
    if not include_deleted:
        stmt = stmt.where(table.c.is_deleted.is_(False))
    return int(conn.execute(stmt).scalar_one())
