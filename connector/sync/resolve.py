"""Step 3 of the inbound page pipeline: lookup fields from Salesforce Ids to local ids.

A lookup to a record not loaded yet gets a placeholder row (only its sf_id), so it always
resolves; the real row fills the placeholder in when it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from connector.mapping import EntityMapping
from connector.store import repo
from connector.sync.maprows import Mapped

__all__ = ["resolve_lookups"]


def resolve_lookups(
    conn: Connection, entity: EntityMapping, mapped: Sequence[Mapped]
) -> list[dict[str, Any]]:
    """Each row's local values with lookups replaced by local ids (same order as ``mapped``)."""
    rows = [m.values for m in mapped]
    lookups = entity.lookups()
    if not lookups or not rows:
        return rows
    out = [dict(r) for r in rows]
    for local_field, target in lookups.items():
        wanted = sorted({r[local_field] for r in rows if r.get(local_field)})
        if not wanted:
            continue
        links = repo.resolve_links(conn, target, wanted)
        for r in out:
            sf_id = r.get(local_field)
            r[local_field] = links.get(sf_id) if sf_id else None
    return out
