"""Give local rows the Salesforce Id of the record an upsert created for them.

A record the connector creates (an MDF allocation, a Task, a certification) exists locally
first, keyed by its external id (``PRM_Key__c``) and with no ``sf_id``. When the upsert
succeeds, the row learns its Id in the same transaction that settles the outbox item, so the
record coming back on the next poll updates that row instead of colliding with its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select, update

from connector.mapping import MappingSpec
from connector.outbox.coalesce import RecordWrite
from connector.store.models import ENTITY_MODELS, entity_table

__all__ = ["deletable", "link_created"]


def link_created(
    conn: Connection,
    spec: MappingSpec | None,
    done: Sequence[tuple[RecordWrite, str | None, dict[str, Any]]],
) -> int:
    """Set ``sf_id`` on local rows matched by the external id of each successful upsert."""
    if spec is None:
        return 0
    linked = 0
    for write, sf_id, _fields in done:
        if write.operation != "upsert" or not sf_id or write.entity not in ENTITY_MODELS:
            continue
        entity = spec.entities.get(write.entity)
        if entity is None:
            continue
        local = next(
            (f.local for f in entity.fields.values() if f.crm == write.external_id_field), None
        )
        table = entity_table(write.entity)
        if local is None or local not in table.c:
            continue
        result = conn.execute(
            update(table)
            .where(table.c[local] == write.external_id, table.c.sf_id.is_(None))
            .values(sf_id=sf_id)
        )
        linked += result.rowcount or 0
    return linked


def deletable(
    conn: Connection, spec: MappingSpec | None, writes: Sequence[RecordWrite]
) -> tuple[list[RecordWrite], list[RecordWrite]]:
    """Deletes split into those with nothing to delete and those to send, each of the latter
    with its record's Id: the one it was queued with, else the one its local row learnt from
    the upsert that created it (matched by the external id, as ``link_created`` set it)."""
    nothing: list[RecordWrite] = []
    send: list[RecordWrite] = []
    for write in writes:
        if not write.sf_id and spec is not None and write.entity in ENTITY_MODELS:
            entity = spec.entities.get(write.entity)
            local = next((f.local for f in entity.fields.values()
                          if f.crm == write.external_id_field), None) if entity else None
            table = entity_table(write.entity)
            if local is not None and local in table.c:
                write.sf_id = conn.execute(select(table.c.sf_id).where(
                    table.c[local] == write.external_id)).scalar()
        (send if write.sf_id else nothing).append(write)
    return nothing, send
