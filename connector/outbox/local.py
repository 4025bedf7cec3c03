"""The "outbox-local" consumer: local PRM edits (change-log entries with source "local") are
mapped with ``to_crm`` (their ``out``/``both`` fields) and queued, with the consumer's offset in
the same transaction (invariant 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from connector.logs import get_logger
from connector.mapping import EntityMapping, MappingError, MappingSpec
from connector.outbox.crmform import crm_rows
from connector.outbox.items import OutboxWrite, enqueue
from connector.store import repo
from connector.store.stream import ChangeBatch, ChangeEvent, ChangeFilter, consume

__all__ = ["CONSUMER", "LocalReport", "queue_local_changes", "writes_for"]

CONSUMER = "outbox-local"
log = get_logger("connector.outbox")


@dataclass
class LocalReport:
    """What one pass over the local changes did."""

    examined: int = 0
    queued: int = 0
    skipped: int = 0  # nothing outbound changed, or no way to address the record
    dead: int = 0


def writes_for(
    conn: Connection, entity: EntityMapping, events: Sequence[ChangeEvent]
) -> tuple[list[OutboxWrite], list[tuple[ChangeEvent, str]]]:
    """Outbox writes for local change events of ``entity``, and the events that cannot go."""
    outbound = {f.local for f in entity.fields.values() if f.outbound}
    key_field = entity.field_for_crm(entity.key) if entity.key != "Id" else None
    writes: list[OutboxWrite] = []
    bad: list[tuple[ChangeEvent, str]] = []
    wanted = [e for e in events if e.op != "deleted" and e.new]
    changes = [
        {k: (e.new or {}).get(k) for k in (e.changed or tuple(e.new or {})) if k in outbound}
        for e in wanted
    ]
    try:
        payloads = crm_rows(conn, entity, changes)
    except MappingError as err:  # pragma: no cover - crm_rows skips bad values
        return [], [(e, str(err)) for e in wanted]
    for event, change, fields in zip(wanted, changes, payloads, strict=True):
        if not change or not fields:
            continue
        cause = f"change:{event.seq}"
        common = {"entity": entity.name, "local_id": event.local_id, "cause": cause}
        if event.sf_id:
            writes.append(
                OutboxWrite(
                    sobject=entity.sobject, operation="update", fields=fields,
                    sf_id=event.sf_id, **common,  # type: ignore[arg-type]
                )
            )
            continue
        key_value = (event.new or {}).get(key_field.local) if key_field else None
        if key_field is None or not key_value:
            bad.append((event, f"{entity.name} has no Salesforce id and no external key yet"))
            continue
        full = crm_rows(conn, entity, [{k: v for k, v in (event.new or {}).items()
                                        if k in outbound}])[0]
        full.pop(entity.key, None)
        writes.append(
            OutboxWrite(
                sobject=entity.sobject, operation="upsert", fields=full,
                external_id_field=entity.key, external_id=str(key_value),
                **common,  # type: ignore[arg-type]
            )
        )
    return writes, bad


def queue_local_changes(
    engine: Engine, spec: MappingSpec, *, batch: int = 1000
) -> LocalReport:
    """Queue outbox writes for every local change not yet handled; commits per batch."""
    report = LocalReport()

    def handle(conn: Connection, changes: ChangeBatch) -> None:
        by_entity: dict[str, list[ChangeEvent]] = {}
        for e in changes.events:
            by_entity.setdefault(e.entity, []).append(e)
        for name, group in by_entity.items():
            entity = spec.entities.get(name)
            if entity is None:
                report.skipped += len(group)
                continue
            writes, bad = writes_for(conn, entity, group)
            report.queued += len(enqueue(conn, writes))
            for event, why in bad:
                repo.add_dead_letter(
                    conn, kind="outbox-local", entity=name, sobject=entity.sobject,
                    sf_id=event.sf_id, payload={"seq": event.seq, "new": event.new},
                    code="NOT_ADDRESSABLE", message=why,
                )
                report.dead += 1
        report.examined += len(changes.events)

    consume(engine, CONSUMER, ChangeFilter(sources=("local",), limit=batch), handle)
    return report
