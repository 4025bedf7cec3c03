"""What the partner portal reads in Salesforce: each partner's segments and eligibility.

The portal is Experience Cloud on the same org, so the ``partner eligible`` answer is written
back: the Account's ``Partner_Segments__c`` (partner.segments) and one ``Partner_Eligibility__c``
record (entity ``eligibility``) per program, track or incentive the partner qualifies for.
``refresh_portal`` runs in the programs stage's transaction, after segments and ladders: it
compares what the partners qualify for now with the store, changes the store to match, and
returns the outbox writes (the one write builder's upserts and updates; a delete for a record
the partner no longer qualifies for). Nothing changed, nothing returned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from connector.mapping.spec import MappingSpec
from connector.outbox.crmform import LocalRecord, build_writes
from connector.outbox.items import OutboxWrite
from connector.partners.facts import level_ranks
from connector.programs.facts import bulk_build, facts_for_partners
from connector.programs.spec import ProgramsSpec, Track
from connector.programs.views import eligibility_from_facts
from connector.store.models import entity_table
from connector.store.sqlutil import chunks

__all__ = ["PortalReport", "Wanted", "eligibility_key", "refresh_portal", "segments_text",
           "wanted_records"]

ENTITY = "eligibility"
SEPARATOR = ";"  # a multi-select picklist's separator


@dataclass(frozen=True)
class Wanted:
    """One eligibility record a partner should have."""

    kind: str  # program | track | incentive
    key: str
    name: str
    why: str


@dataclass
class PortalReport:
    """What one refresh changed, and the writes it wants made."""

    segments_changed: int = 0
    entered: int = 0
    left: int = 0
    updated: int = 0
    writes: list[OutboxWrite] = field(default_factory=list)


def eligibility_key(partner_sf_id: str, kind: str, key: str) -> str:
    """The PRM_Key__c of a partner's eligibility record, fixed by its parts: the partner's
    Account Id (not its local id, so a second store over the same org, or a store rebuilt,
    finds the records already there instead of colliding with them)."""
    digest = hashlib.sha256(f"{partner_sf_id}|{kind}|{key}".encode()).hexdigest()[:24]
    return f"PRM-ELIG-{digest}"


def segments_text(segments: Collection[str]) -> str | None:
    """The Account field's value: the segments in name order, ';'-joined (None for none)."""
    return SEPARATOR.join(sorted(segments)) or None


def _open_to(track: Track) -> str:
    if track.open_to_all:
        return "open to every partner"
    parts = []
    if track.segments:
        parts.append("segments " + ", ".join(track.segments))
    if track.partner_types:
        parts.append("partner types " + ", ".join(track.partner_types))
    return "open to " + "; ".join(parts)


def wanted_records(spec: ProgramsSpec, answer: dict[str, Any]) -> list[Wanted]:
    """The records ``answer`` (``partner eligible``'s) says a partner should have: a program
    when one of its tracks is open to it, each open track, each eligible incentive."""
    out: list[Wanted] = []
    for prog in answer["programs"]:
        if not prog["tracks"]:
            continue
        out.append(Wanted("program", prog["program"], prog["name"],
                          "open tracks: " + ", ".join(prog["tracks"])))
        for tid in prog["tracks"]:
            out.append(Wanted("track", tid, spec.tracks[tid].name, _open_to(spec.tracks[tid])))
    for inc in answer["incentives"]:
        out.append(Wanted("incentive", inc["incentive"], inc["name"], str(inc["why"] or "")))
    return out


def _values(pid: int, sf_id: str, w: Wanted) -> dict[str, Any]:
    return {"name": w.name[:80], "partner": pid, "kind": w.kind, "key": w.key[:80],
            "why": w.why[:255], "prm_key": eligibility_key(sf_id, w.kind, w.key)}


def refresh_portal(
    conn: Connection, mapping: MappingSpec, spec: ProgramsSpec, now: datetime,
    partner_ids: Collection[int], *, cause: str, fiscal_year_start_month: int = 1,
) -> PortalReport:
    """Bring ``partner_ids``' segments and eligibility rows to what they qualify for now, in
    the caller's transaction; the report holds the outbox writes to queue with it."""
    report = PortalReport()
    if not partner_ids:
        return report
    with bulk_build():
        facts = facts_for_partners(conn, spec, now.date(), partner_ids,
                                   fiscal_year_start_month=fiscal_year_start_month)
    partner, table = entity_table("partner"), entity_table(ENTITY)
    pids = sorted(facts)
    current: dict[int, tuple[str | None, str | None]] = {}
    rows: dict[int, dict[str, dict[str, Any]]] = {}  # partner -> prm_key -> its row
    for part in chunks(pids):
        current.update({int(i): (s, seg) for i, s, seg in conn.execute(
            select(partner.c.id, partner.c.sf_id, partner.c.segments)
            .where(partner.c.id.in_(part)))})
        for r in conn.execute(select(table).where(table.c.partner.in_(part))).mappings():
            rows.setdefault(int(r["partner"]), {})[str(r["prm_key"])] = dict(r)
    records: list[LocalRecord] = []
    deletes: list[OutboxWrite] = []
    today = now.date()
    ranks = level_ranks(conn)
    for pid in pids:
        f = facts[pid]
        sf_id, had = current.get(pid, (None, None))
        text = segments_text(f["segments"])
        if text != had:
            conn.execute(update(partner).where(partner.c.id == pid)
                         .values(segments=text, updated_at=now))
            report.segments_changed += 1
            if sf_id:
                records.append(LocalRecord("partner", pid, sf_id, {"segments": text}, cause))
        if not sf_id:
            continue  # not in Salesforce (yet): no Account to hang its records on
        wanted = {v["prm_key"]: v for v in (_values(pid, sf_id, w) for w in wanted_records(
            spec, eligibility_from_facts(spec, pid, f, ranks)))}
        mine = rows.get(pid, {})
        for key, want in wanted.items():
            row = mine.get(key)
            if row is None or row["is_deleted"]:
                full = {**want, "since": today}
                if row is None:
                    local_id = conn.execute(insert(table).values(
                        **full, created_at=now, updated_at=now, is_deleted=False)
                        .returning(table.c.id)).scalar_one()
                else:  # back again: its old record was deleted in Salesforce
                    local_id = row["id"]
                    conn.execute(update(table).where(table.c.id == local_id).values(
                        **full, sf_id=None, is_deleted=False, updated_at=now))
                report.entered += 1
                records.append(LocalRecord(ENTITY, int(local_id), None, full, cause, row=full))
                continue
            changed = {k: v for k, v in want.items() if row.get(k) != v}
            if changed:
                conn.execute(update(table).where(table.c.id == row["id"])
                             .values(**changed, updated_at=now))
                report.updated += 1
                full = {**{k: row.get(k) for k in (*want, "since")}, **changed}
                records.append(LocalRecord(ENTITY, int(row["id"]), row["sf_id"], changed,
                                           cause, row=full))
        for key, row in mine.items():
            if row["is_deleted"] or key in wanted:
                continue
            conn.execute(update(table).where(table.c.id == row["id"])
                         .values(is_deleted=True, updated_at=now))
            report.left += 1
            entity = mapping.entities.get(ENTITY)
            if entity is not None:
                deletes.append(OutboxWrite(
                    entity.sobject, "delete", {}, cause, sf_id=row["sf_id"],
                    external_id_field=entity.key, external_id=key, entity=ENTITY,
                    local_id=int(row["id"])))
    writes, _unaddressable = build_writes(conn, mapping, records)
    report.writes = writes + deletes
    return report
