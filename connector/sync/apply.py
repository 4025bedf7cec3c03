"""Apply one page of raw Salesforce rows to the store, inside the caller's transaction.

For each row: dedupe on (Id, SystemModstamp) against the snapshot, map to local values,
resolve lookups through the record links, diff against the snapshot, then upsert rows and
snapshots, append the change log and park unmappable rows in the dead letter queue. The caller
commits this together with the new cursor (invariant 2), so a crash replays the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from connector.mapping import EntityMapping, MappingError, diff, fingerprint, to_local
from connector.store import repo
from connector.store.stream import append_changes
from connector.sync.diffs import Op, RecordDiff
from connector.sync.echo import mark_echoes
from connector.sync.window import parse_sf_datetime

__all__ = ["PageResult", "apply_page", "apply_rows", "jsonable"]


@dataclass
class PageResult:
    """What a page did: diffs to hand to triggers, counts, and the newest stamp seen."""

    diffs: list[RecordDiff] = field(default_factory=list)
    seen: int = 0
    skipped: int = 0  # already applied (same or older SystemModstamp)
    dead: int = 0
    max_modstamp: datetime | None = None


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Mapped values in the JSON form snapshots and the change log keep (dates as ISO text)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, datetime | date):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out


def _latest_per_id(rows: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], datetime]]:
    """Keep the newest copy of each Id (a page may hold one Id twice across a tie)."""
    best: dict[str, tuple[dict[str, Any], datetime]] = {}
    for row in rows:
        stamp = parse_sf_datetime(row["SystemModstamp"])
        prev = best.get(row["Id"])
        if prev is None or stamp >= prev[1]:
            best[row["Id"]] = (row, stamp)
    return list(best.values())


def apply_page(
    conn: Connection,
    entity: EntityMapping,
    rows: Sequence[dict[str, Any]],
    *,
    cycle_id: str,
    source: str = "poll",
    force: bool = False,
    integration_user_id: str | None = None,
) -> PageResult:
    """Apply ``rows`` (raw sObject dicts of ``entity``'s object) and return the diffs.

    ``force`` re-applies rows whose SystemModstamp the snapshot already has (reconcile uses it:
    formula fields change without touching SystemModstamp).
    """
    result = PageResult(seen=len(rows))
    if not rows:
        return result
    latest = _latest_per_id(rows)
    for _, stamp in latest:
        if result.max_modstamp is None or stamp > result.max_modstamp:
            result.max_modstamp = stamp
    snaps = repo.load_snapshots(conn, entity.name, [r["Id"] for r, _ in latest])

    mapped: list[tuple[dict[str, Any], datetime, dict[str, Any]]] = []
    deletes: list[tuple[dict[str, Any], datetime]] = []
    for row, stamp in latest:
        snap = snaps.get(row["Id"])
        deleted = bool(row.get("IsDeleted"))
        already = snap is not None and snap.modstamp is not None and stamp <= snap.modstamp
        if already and not force and snap is not None and deleted == snap.deleted:
            result.skipped += 1
            continue
        if deleted:
            if snap is not None and not snap.deleted:
                deletes.append((row, stamp))
            else:
                result.skipped += 1
            continue
        try:
            values = to_local(entity, row)
        except MappingError as err:
            repo.add_dead_letter(
                conn,
                kind="inbound",
                entity=entity.name,
                sobject=entity.sobject,
                sf_id=row["Id"],
                payload=_wire(row),
                code="MAPPING_ERROR",
                message=str(err),
            )
            result.dead += 1
            continue
        mapped.append((row, stamp, values))

    resolved = _resolve_lookups(conn, entity, [v for _, _, v in mapped])
    records: list[repo.RecordRow] = []
    for (row, stamp, values), local in zip(mapped, resolved, strict=True):
        snap = snaps.get(row["Id"])
        new = jsonable(local)
        old = None if snap is None or snap.deleted else snap.values
        changed = tuple(diff(old, new))
        op: Op = "created" if old is None else "updated"
        if snap is not None and snap.deleted:
            op = "undeleted"
        records.append(
            repo.RecordRow(
                sf_id=row["Id"],
                values=local,
                modstamp=stamp,
                last_modified_by=row.get("LastModifiedById"),
                deleted=False,
                hash=fingerprint(values),
            )
        )
        if op == "updated" and not changed:
            continue  # a save that changed no mapped field: snapshot stamp moves, no diff
        result.diffs.append(
            RecordDiff(
                entity=entity.name,
                sf_id=row["Id"],
                op=op,
                old=old,
                new=new,
                changed=changed,
                origin=row.get("LastModifiedById"),
                modstamp=stamp,
                source=source,
            )
        )
    ids = repo.upsert_records(conn, entity.name, records) if records else {}

    if deletes:
        repo.mark_deleted(
            conn,
            entity.name,
            [r["Id"] for r, _ in deletes],
        )
        for row, stamp in deletes:
            snap = snaps[row["Id"]]
            result.diffs.append(
                RecordDiff(
                    entity=entity.name,
                    sf_id=row["Id"],
                    op="deleted",
                    old=snap.values,
                    new=None,
                    changed=(),
                    origin=row.get("LastModifiedById"),
                    modstamp=stamp,
                    local_id=snap.local_id,
                    source=source,
                )
            )

    for i, d in enumerate(result.diffs):
        local_id = d.local_id if d.local_id is not None else ids.get(d.sf_id)
        result.diffs[i] = _with_local_id(d, local_id)
    # diffs are final here: our own write-backs coming back are flagged and fire nothing
    result.diffs = mark_echoes(conn, entity, result.diffs, integration_user_id)
    append_changes(conn, result.diffs, cycle_id=cycle_id)
    return result


def _with_local_id(d: RecordDiff, local_id: int | None) -> RecordDiff:
    if d.local_id == local_id:
        return d
    return RecordDiff(
        entity=d.entity,
        sf_id=d.sf_id,
        op=d.op,
        old=d.old,
        new=d.new,
        changed=d.changed,
        origin=d.origin,
        modstamp=d.modstamp,
        local_id=local_id,
        echo=d.echo,
        source=d.source,
    )


def _resolve_lookups(
    conn: Connection, entity: EntityMapping, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Replace Salesforce Ids in lookup fields by local ids (placeholders made on demand)."""
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


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "attributes"}


def apply_rows(
    conn: Connection,
    entity: EntityMapping,
    rows: Sequence[dict[str, Any]],
    *,
    cycle_id: str,
    source: str = "push",
    integration_user_id: str | None = None,
) -> PageResult:
    """Rows fetched outside a poll window (the push path): same map/resolve/persist steps."""
    return apply_page(
        conn,
        entity,
        rows,
        cycle_id=cycle_id,
        source=source,
        integration_user_id=integration_user_id,
    )
