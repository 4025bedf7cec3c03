"""Mapped local values (what snapshots and the change log hold) in Salesforce's form, so the
dispatcher can compare them with the fields it is about to write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from connector.mapping import EntityMapping, MappingError, canonical, to_crm
from connector.store.models import entity_table
from connector.store.sqlutil import chunks

__all__ = ["crm_rows", "same_value", "sf_ids_for"]


def sf_ids_for(conn: Connection, entity: str, local_ids: Sequence[int]) -> dict[int, str]:
    """Salesforce ids of local rows of ``entity`` (rows without one are left out)."""
    table = entity_table(entity)
    out: dict[int, str] = {}
    for part in chunks(list(dict.fromkeys(local_ids))):
        stmt = select(table.c.id, table.c.sf_id).where(table.c.id.in_(part))
        out.update({int(i): str(s) for i, s in conn.execute(stmt) if s})
    return out


def crm_rows(
    conn: Connection, entity: EntityMapping, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each local-values dict as {Salesforce field: value} for its outbound fields.

    Lookups (local ids) become Salesforce ids; a value that does not convert is left out.
    """
    lookups = {
        f.local: f.lookup for f in entity.fields.values() if f.lookup is not None and f.outbound
    }
    ids: dict[str, dict[int, str]] = {}
    for local, target in lookups.items():
        wanted = [int(r[local]) for r in rows if isinstance(r.get(local), int)]
        ids[local] = sf_ids_for(conn, target, wanted) if wanted else {}
    out: list[dict[str, Any]] = []
    for row in rows:
        crm: dict[str, Any] = {}
        for local, value in row.items():
            f = entity.fields.get(local)
            if f is None or not f.outbound:
                continue
            if local in lookups:
                crm[f.crm] = ids[local].get(int(value)) if isinstance(value, int) else value
                continue
            try:
                crm.update(to_crm(entity, {local: value}))
            except MappingError:
                continue
        out.append(crm)
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equal as Salesforce would store them (1 == 1.0, dates as ISO text; bool is not int)."""
    ca, cb = canonical(a), canonical(b)
    return ca == cb and isinstance(ca, bool) == isinstance(cb, bool)
