"""Local values in Salesforce's form, and the one builder of outbox writes from them.

Every write to Salesforce that starts from local values goes through ``build_writes``: the
outbox-local consumer (a person's edit), the programs stage (a step, points, a ladder) and the
trigger actions. It maps the ``out``/``both`` fields with ``to_crm``, resolves lookups (local
ids) to Salesforce ids through the store's one id-link lookup (``repo.sf_ids_by_local``), and
addresses the record by its Salesforce id (an update) or, for a record the connector creates,
by the external id field the mapping names as the entity's key (an upsert).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from connector.mapping import EntityMapping, MappingError, MappingSpec, to_crm
from connector.outbox.items import OutboxWrite
from connector.store.records import sf_ids_by_local

__all__ = ["LocalRecord", "build_writes", "crm_rows"]


def crm_rows(
    conn: Connection, entity: EntityMapping, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each local-values dict as {Salesforce field: value} for its outbound fields.

    Lookups (local ids) become Salesforce ids (None when the target has none yet; a value that
    is already text passes as an Id); a value that does not convert is left out.
    """
    lookups = {
        f.local: f.lookup for f in entity.fields.values() if f.lookup is not None and f.outbound
    }
    ids: dict[str, dict[int, str]] = {}
    for local, target in lookups.items():
        wanted = [int(r[local]) for r in rows if isinstance(r.get(local), int)]
        ids[local] = sf_ids_by_local(conn, target, wanted) if wanted else {}
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


@dataclass(frozen=True)
class LocalRecord:
    """A local record some of whose values a cause wants written to Salesforce.

    ``values``: the local values to write (by local name, lookups as local ids). ``row``: the
    record's full local values, for a record Salesforce does not have yet (it is created by
    upsert with all its outbound fields); None means ``values`` is all there is.
    """

    entity: str
    local_id: int | None
    sf_id: str | None
    values: dict[str, Any]
    cause: str
    row: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def build_writes(
    conn: Connection, spec: MappingSpec, records: Sequence[LocalRecord]
) -> tuple[list[OutboxWrite], list[tuple[LocalRecord, str]]]:
    """The outbox writes for ``records`` (in their order), and those that cannot be addressed.

    A record with a Salesforce id is updated with its outbound ``values`` (nothing when none
    is outbound). One without is upserted by the entity's external id field (mapping key)
    with every outbound value of its row; with no key field or no key value yet it is
    returned with the reason. Records of entities the mapping does not know are left out.
    """
    writes: list[OutboxWrite] = []
    bad: list[tuple[LocalRecord, str]] = []
    by_entity: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.entity in spec.entities:
            by_entity.setdefault(r.entity, []).append(i)
    built: dict[int, OutboxWrite | str | None] = {}
    for name, idx in by_entity.items():
        entity = spec.entities[name]
        key = entity.field_for_crm(entity.key) if entity.key != "Id" else None
        updates = [i for i in idx if records[i].sf_id]
        creates = [i for i in idx if not records[i].sf_id]
        for i, fields in zip(updates, crm_rows(conn, entity, [records[i].values
                                                              for i in updates]), strict=True):
            r = records[i]
            built[i] = OutboxWrite(entity.sobject, "update", fields, r.cause, sf_id=r.sf_id,
                                   entity=name, local_id=r.local_id, meta=dict(r.meta)
                                   ) if fields else None
        full: list[dict[str, Any]] = [
            r.values if r.row is None else r.row for r in (records[i] for i in creates)]
        for i, row, fields in zip(creates, full, crm_rows(conn, entity, full), strict=True):
            r = records[i]
            key_value = row.get(key.local) if key is not None else None
            if key is None or not key_value:
                built[i] = f"{name} has no Salesforce id and no external key yet"
                continue
            payload = {k: v for k, v in fields.items() if v is not None and k != entity.key}
            built[i] = OutboxWrite(entity.sobject, "upsert", payload, r.cause,
                                   external_id_field=entity.key, external_id=str(key_value),
                                   entity=name, local_id=r.local_id, meta=dict(r.meta))
    for i, r in enumerate(records):
        got = built.get(i)
        if isinstance(got, OutboxWrite):
            writes.append(got)
        elif isinstance(got, str):
            bad.append((r, got))
    return writes, bad
