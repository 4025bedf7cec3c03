"""The "outbox-local" consumer: local PRM edits (change-log entries with source "local") are
mapped with ``to_crm`` (their ``out``/``both`` fields) and queued, with the consumer's offset in
the same transaction (invariant 2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from connector.logs import get_logger
from connector.mapping import EntityMapping, MappingSpec
from connector.outbox.crmform import LocalRecord, build_writes
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
    conn: Connection, spec: MappingSpec, entity: EntityMapping, events: Sequence[ChangeEvent]
) -> tuple[list[OutboxWrite], list[tuple[ChangeEvent, str]]]:
    """Outbox writes for local change events of ``entity``, and the events that cannot go."""
    outbound = {f.local for f in entity.fields.values() if f.outbound}
    wanted = [e for e in events if e.op != "deleted" and e.new]
    records = []
    for e in wanted:
        new = e.new or {}
        change = {k: new.get(k) for k in (e.changed or tuple(new)) if k in outbound}
        if change:
            records.append(LocalRecord(entity.name, e.local_id, e.sf_id, change,
                                       f"change:{e.seq}", row=new))
    writes, bad = build_writes(conn, spec, records)
    by_cause = {f"change:{e.seq}": e for e in wanted}
    return writes, [(by_cause[r.cause], why) for r, why in bad]


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
            writes, bad = writes_for(conn, spec, entity, group)
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
