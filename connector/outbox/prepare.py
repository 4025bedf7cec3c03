"""Before a batch is sent: resolve conflicts on `both` fields, then drop the fields Salesforce
already holds (compared with what we last read, or wrote since), so only changes are written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, or_, select

from connector.mapping import EntityMapping, MappingSpec, same_value
from connector.outbox.coalesce import RecordWrite
from connector.outbox.converge import CONVERGE_META
from connector.outbox.crmform import crm_rows
from connector.outbox.queue import written_for
from connector.store.bookkeeping import ChangeLog, OutboxConflict, Snapshot
from connector.store.sqlutil import chunks, to_json_safe, upsert_stmt

__all__ = ["ConflictRecord", "decide", "prepare", "record_conflicts"]

SNAPSHOT: Table = Snapshot.__table__  # type: ignore[attr-defined]
CHANGE_LOG: Table = ChangeLog.__table__  # type: ignore[attr-defined]
CONFLICTS: Table = OutboxConflict.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ConflictRecord:
    """One field both sides changed, and which side's value stands."""

    item_id: str
    entity: str
    sobject: str
    sf_id: str | None
    field: str
    prm_value: Any
    crm_value: Any
    policy: str
    winner: str  # "crm" | "prm"
    change_seq: int


def decide(policy: str, crm_changed_at: datetime | None, prm_changed_at: datetime) -> str:
    """Which side wins a conflict under ``policy`` (crm_wins | prm_wins | newest_wins)."""
    if policy == "prm_wins":
        return "prm"
    if policy == "newest_wins":
        if crm_changed_at is None:
            return "prm"
        return "crm" if crm_changed_at > prm_changed_at else "prm"
    return "crm"


def _entity(spec: MappingSpec | None, write: RecordWrite) -> EntityMapping | None:
    if spec is None:
        return None
    return spec.entities.get(write.entity) or spec.entity_for_sobject(write.sobject)


def prepare(
    conn: Connection,
    spec: MappingSpec | None,
    writes: Sequence[RecordWrite],
    *,
    integration_user_id: str | None,
) -> tuple[list[ConflictRecord], dict[str, str]]:
    """Trim each write's fields in place; return the conflicts and each record's parent key.

    The parent key (the partner account a record hangs off, when known) orders a batch so that
    records retried after row-lock errors go out grouped by parent.
    """
    conflicts: list[ConflictRecord] = []
    parents: dict[str, str] = {}
    if not writes:
        return conflicts, parents
    entity = _entity(spec, writes[0])
    sobject = writes[0].sobject
    sf_ids = [w.sf_id for w in writes if w.sf_id]
    written = written_for(conn, sobject, [w.record_key for w in writes], sf_ids)
    upserted: dict[str, str] = {}  # record key of an upsert we made -> the Id it got
    for w in writes:
        w_sf = written[w.record_key][2] if w.sf_id is None and w.record_key in written else None
        if w_sf:  # an upsert we made before: its snapshot is under the Id Salesforce gave it
            sf_ids.append(w_sf)
            upserted[w.record_key] = w_sf
    snaps: dict[str, tuple[dict[str, Any], datetime]] = {}
    if entity is not None and sf_ids:
        snaps = _snapshots(conn, entity.name, sf_ids)
    crm_snap: dict[str, dict[str, Any]] = {}
    if entity is not None and snaps:
        keys = list(snaps)
        for key, crm in zip(keys, crm_rows(conn, entity, [snaps[k][0] for k in keys]),
                            strict=True):
            crm_snap[key] = crm
    if entity is not None:
        conflicts = _conflicts(conn, entity, writes, integration_user_id)
        parent_field = next(
            (f.local for f in entity.fields.values() if f.lookup == "partner"), None
        )
        for w in writes:
            sid = w.sf_id or upserted.get(w.record_key)
            values = snaps.get(sid, ({}, None))[0] if sid else {}
            if parent_field and values.get(parent_field) is not None:
                parents[w.record_key] = str(values[parent_field])
    for c in conflicts:
        if c.winner == "crm":
            for w in writes:
                if c.item_id in w.item_ids and w.sources.get(c.field) is not None:
                    w.fields.pop(c.field, None)
    for w in writes:
        sid = w.sf_id or upserted.get(w.record_key)
        baseline: dict[str, Any] = {}
        snap_at: datetime | None = None
        if sid and sid in crm_snap:
            baseline.update(crm_snap[sid])
            snap_at = snaps[sid][1]
        mine = written.get(w.record_key) or (written.get(sid) if sid else None)
        if mine is not None and (snap_at is None or mine[1] >= snap_at):
            baseline.update(mine[0])
        for name in list(w.fields):
            source = w.sources.get(name)
            if source is not None and source.meta.get(CONVERGE_META):
                continue  # a repair: decided on the org's row just read, never trimmed
            if name in baseline and same_value(baseline[name], w.fields[name]):
                del w.fields[name]
    return conflicts, parents


def _snapshots(
    conn: Connection, entity: str, sf_ids: Sequence[str]
) -> dict[str, tuple[dict[str, Any], datetime]]:
    c = SNAPSHOT.c
    out: dict[str, tuple[dict[str, Any], datetime]] = {}
    for part in chunks(list(dict.fromkeys(sf_ids))):
        stmt = select(c.sf_id, c["values"], c.updated_at, c.deleted).where(
            c.entity == entity, c.sf_id.in_(part)
        )
        for sf_id, values, at, deleted in conn.execute(stmt):
            if not deleted:
                out[str(sf_id)] = (dict(values or {}), at)
    return out


def _conflicts(
    conn: Connection,
    entity: EntityMapping,
    writes: Sequence[RecordWrite],
    integration_user_id: str | None,
) -> list[ConflictRecord]:
    """`both` fields a Salesforce user changed after the write was queued, to another value."""
    both = {f.crm: f for f in entity.fields.values() if f.direction == "both"}
    targets = [w for w in writes if w.sf_id and any(n in both for n in w.fields)]
    if not targets:
        return []
    base = min(w.base_seq for w in targets)
    c = CHANGE_LOG.c
    later: dict[str, list[Any]] = {}
    for part in chunks([str(w.sf_id) for w in targets]):
        stmt = (
            select(c.id, c.sf_id, c.new, c.changed, c.modstamp, c.recorded_at)
            .where(
                c.entity == entity.name,
                c.sf_id.in_(part),
                c.id > base,
                c.echo.is_(False),
                c.source != "local",
                or_(c.origin.is_(None), c.origin != (integration_user_id or "")),
            )
            .order_by(c.id)
        )
        for row in conn.execute(stmt).mappings():
            later.setdefault(str(row["sf_id"]), []).append(row)
    found: list[ConflictRecord] = []
    for w in targets:
        entries = later.get(str(w.sf_id))
        if not entries:
            continue
        for crm_name, value in list(w.fields.items()):
            f = both.get(crm_name)
            source = w.sources.get(crm_name)
            if f is None or source is None:
                continue
            hits = [
                e for e in entries if e["id"] > source.base_seq and f.local in (e["changed"] or [])
            ]
            if not hits:
                continue
            last = hits[-1]
            crm_value = crm_rows(conn, entity, [{f.local: (last["new"] or {}).get(f.local)}])[0]
            theirs = crm_value.get(crm_name)
            if same_value(theirs, value):
                continue
            winner = decide(f.conflict, last["modstamp"] or last["recorded_at"], source.created_at)
            found.append(
                ConflictRecord(
                    item_id=source.id,
                    entity=entity.name,
                    sobject=w.sobject,
                    sf_id=w.sf_id,
                    field=crm_name,
                    prm_value=value,
                    crm_value=theirs,
                    policy=f.conflict,
                    winner=winner,
                    change_seq=int(last["id"]),
                )
            )
    return found


def record_conflicts(conn: Connection, conflicts: Sequence[ConflictRecord], now: datetime) -> None:
    """Keep each conflict and its resolution (once per item and field, replays included)."""
    if not conflicts:
        return
    rows = [
        {
            "item_id": c.item_id,
            "entity": c.entity,
            "sobject": c.sobject,
            "sf_id": c.sf_id,
            "field": c.field,
            "prm_value": to_json_safe({"v": c.prm_value})["v"],
            "crm_value": to_json_safe({"v": c.crm_value})["v"],
            "policy": c.policy,
            "winner": c.winner,
            "change_seq": c.change_seq,
            "detected_at": now,
        }
        for c in conflicts
    ]
    stmt = upsert_stmt(conn, CONFLICTS).on_conflict_do_nothing(index_elements=["item_id", "field"])
    conn.execute(stmt, rows)
