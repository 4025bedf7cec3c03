"""Changes to a partner's program state: enrol, complete a step, award points, refresh segments.

Each runs in the caller's transaction and returns the entity rows it changed as ``LocalChange``s
(the partner's points/certifications mirror, a certification it created). A person's edit
appends them to the change log with source "local" (the outbox-local consumer writes them
back); a trigger action turns them into outbox writes itself (``writes_for_changes``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Connection, func, insert, select, update

from connector.errors import ConnectorError
from connector.mapping.spec import MappingSpec
from connector.outbox.crmform import LocalRecord, build_writes
from connector.outbox.items import OutboxWrite
from connector.partners.points import award_points as ledger_award
from connector.partners.points import opening_balance
from connector.programs.evaluate import blocked_reason, is_open_to, segments_for
from connector.programs.facts import (
    COMPLETION,
    ENROLMENT,
    MEMBERSHIP,
    bulk_build,
    completed_steps,
    facts_for_partners,
    points_balance,
)
from connector.programs.spec import ProgramSpec, ProgramsSpec, Step
from connector.store.models import entity_table
from connector.store.sqlutil import upsert_stmt
from connector.sync.diffs import RecordDiff

__all__ = [
    "LocalChange",
    "Outcome",
    "SegmentEvent",
    "StepBlocked",
    "UnknownName",
    "award_points",
    "certification_key",
    "complete_step",
    "enroll",
    "ladder_program",
    "local_diffs",
    "refresh_partner_mirror",
    "refresh_segments",
    "writes_for_changes",
]

Source = Literal["local", "action", "salesforce", "auto"]


class StepBlocked(ConnectorError):
    """A step whose prerequisites are not met yet (the message says which)."""

    exit_code = 2


class UnknownName(ConnectorError):
    """A partner, step, track or segment that does not exist."""

    exit_code = 2


@dataclass(frozen=True)
class LocalChange:
    """An entity row this module changed, in mapped local values (lookups as local ids)."""

    entity: str
    local_id: int
    sf_id: str | None
    op: Literal["created", "updated"]
    old: dict[str, Any] | None
    new: dict[str, Any]
    changed: tuple[str, ...]


@dataclass(frozen=True)
class SegmentEvent:
    """A partner entering or leaving a segment."""

    partner_id: int
    segment: str
    event: Literal["segment_entered", "segment_left"]
    at: datetime


@dataclass
class Outcome:
    """What one operation did."""

    done: bool
    detail: str
    changes: list[LocalChange] = field(default_factory=list)
    points: int = 0


def _partner_row(conn: Connection, partner_id: int) -> dict[str, Any]:
    partner = entity_table("partner")
    row = conn.execute(select(partner).where(partner.c.id == partner_id)).mappings().first()
    if row is None:
        raise UnknownName(f"no partner with local id {partner_id}")
    return dict(row)


def enroll(
    conn: Connection, spec: ProgramsSpec, partner_id: int, track_id: str, *,
    source: Source, cause: str, now: datetime,
) -> bool:
    """Enrol ``partner_id`` in ``track_id``; False when it already was."""
    if track_id not in spec.tracks:
        raise UnknownName(f"unknown track '{track_id}' (known: {', '.join(spec.tracks)})")
    stmt = upsert_stmt(conn, ENROLMENT).values(
        partner_id=partner_id, track=track_id, enrolled_at=now, source=source, cause=cause
    ).on_conflict_do_nothing(index_elements=["partner_id", "track"])
    return bool(conn.execute(stmt).rowcount)


def refresh_partner_mirror(
    conn: Connection, partner_id: int, now: datetime,
    fields: tuple[str, ...] = ("points", "certifications"),
) -> LocalChange | None:
    """Copy the ledger balance and certification count onto the partner's outbound fields."""
    row = _partner_row(conn, partner_id)
    opening_balance(conn, row, now)
    cert = entity_table("certification")
    certs = conn.execute(
        select(func.count()).where(cert.c.partner == partner_id, cert.c.is_deleted.is_(False))
    ).scalar_one()
    want = {"points": float(points_balance(conn, partner_id)), "certifications": float(certs)}
    want = {k: v for k, v in want.items() if k in fields}
    old = {k: row.get(k) for k in want}
    changed = tuple(k for k, v in want.items() if float(old[k] or 0) != v)
    if not changed:
        return None
    partner = entity_table("partner")
    conn.execute(update(partner).where(partner.c.id == partner_id).values(**want, updated_at=now))
    return LocalChange("partner", partner_id, row.get("sf_id"), "updated",
                       {k: old[k] for k in changed}, {k: want[k] for k in changed}, changed)


def award_points(
    conn: Connection, partner_id: int, points: int, *, reason: str, cause: str, now: datetime,
    award_key: str | None = None, step: str | None = None,
) -> Outcome:
    """Add a ledger row (once per ``award_key``) and refresh the partner's balance mirror:
    the partner layer's ledger (``connector.partners.points``), as a ``LocalChange``."""
    row = _partner_row(conn, partner_id)
    out = ledger_award(conn, row, points, reason=reason, cause=cause, now=now,
                       award_key=award_key, step=step)
    if not out.done:
        return Outcome(False, out.detail)
    changes = []
    if out.mirror is not None:
        changes.append(LocalChange("partner", partner_id, row.get("sf_id"), "updated",
                                   {"points": out.mirror[0]}, {"points": out.mirror[1]},
                                   ("points",)))
    return Outcome(True, out.detail, changes, int(points))


def certification_key(partner_id: int, step_id: str) -> str:
    """The PRM_Key__c of the certification a completed step creates (fixed by its parts)."""
    digest = hashlib.sha256(f"{partner_id}|{step_id}".encode()).hexdigest()[:24]
    return f"PRM-CERT-{digest}"


NEXT_STEP_DUE_DAYS = 14


def next_step_key(partner_id: int, step_id: str) -> str:
    """The PRM_Key__c of the Task that asks a partner's channel manager for ``step_id``."""
    digest = hashlib.sha256(f"next|{partner_id}|{step_id}".encode()).hexdigest()[:24]
    return f"PRM-TASK-{digest}"


def _next_step_tasks(
    conn: Connection, spec: ProgramsSpec, partner: dict[str, Any], step: Step,
    done: Collection[str], now: datetime,
) -> list[LocalChange]:
    """The channel manager's Tasks around a completed ``step``: the one that asked for it is
    marked Completed, and one is created (once) for the next step of its track, with what
    blocks it if anything does. None when the track is done or has ``next_step_task: false``."""
    table = entity_table("task")
    out: list[LocalChange] = []
    asked = next_step_key(partner["id"], step.id)
    row = conn.execute(select(table).where(table.c.prm_key == asked)).mappings().first()
    if row is not None and row["status"] != "Completed":
        conn.execute(update(table).where(table.c.id == row["id"])
                     .values(status="Completed", updated_at=now))
        out.append(LocalChange("task", int(row["id"]), row["sf_id"], "updated",
                               {"status": row["status"]},
                               {"status": "Completed", "prm_key": asked}, ("status",)))
    track = spec.tracks[step.track]
    nxt = next((s for s in track.steps if s.id not in done), None)
    if not track.next_step_task or nxt is None:
        return out
    name = partner.get("name") or f"partner {partner['id']}"
    count = sum(1 for s in track.steps if s.id in done)
    why = blocked_reason(spec, nxt.id, done)
    description = (f"{name} completed '{step.name}' ({count}/{len(track.steps)} steps of "
                   f"{track.name}). Next: {nxt.name} ({nxt.kind}, {nxt.points} points)."
                   + (f" Blocked until: {why}." if why else ""))
    values: dict[str, Any] = {
        "subject": f"{name}: next step {nxt.name}"[:255],
        "activity_date": now.date() + timedelta(days=NEXT_STEP_DUE_DAYS),
        "status": "Not Started", "priority": "Normal",
        "what": partner.get("sf_id"), "owner": partner.get("channel_manager"),
        "description": description, "prm_key": next_step_key(partner["id"], nxt.id),
    }
    values = {k: v for k, v in values.items() if v is not None}
    stmt = upsert_stmt(conn, table).values(
        **values, created_at=now, updated_at=now, is_deleted=False,
    ).on_conflict_do_nothing(index_elements=["prm_key"])
    if conn.execute(stmt).rowcount:
        local_id = conn.execute(
            select(table.c.id).where(table.c.prm_key == values["prm_key"])).scalar_one()
        out.append(LocalChange("task", int(local_id), None, "created", None, values,
                               tuple(values)))
    return out


def _create_certification(
    conn: Connection, partner_id: int, name: str, step_id: str, now: datetime
) -> LocalChange | None:
    table = entity_table("certification")
    key = certification_key(partner_id, step_id)
    values = {"name": name[:80], "partner": partner_id, "completed_date": now.date(),
              "prm_key": key}
    stmt = upsert_stmt(conn, table).values(
        **values, created_at=now, updated_at=now, is_deleted=False
    ).on_conflict_do_nothing(index_elements=["prm_key"])
    if not conn.execute(stmt).rowcount:
        return None
    local_id = conn.execute(select(table.c.id).where(table.c.prm_key == key)).scalar_one()
    return LocalChange("certification", int(local_id), None, "created", None, values,
                       tuple(values))


def complete_step(
    conn: Connection, spec: ProgramsSpec, partner_id: int, step_id: str, *,
    source: Source, cause: str, now: datetime, check_prerequisites: bool = True,
) -> Outcome:
    """Record ``step_id`` done for ``partner_id``: enrolment, completion, points, certificate.

    Raises ``StepBlocked`` with the reason when a prerequisite is not met (unless
    ``check_prerequisites`` is False: a certification recorded in Salesforce is a fact).
    """
    step = spec.steps.get(step_id)
    if step is None:
        raise UnknownName(f"unknown step '{step_id}' (known: {', '.join(spec.steps)})")
    partner = _partner_row(conn, partner_id)
    done = completed_steps(conn, partner_id)
    if step_id in done:
        return Outcome(False, f"step '{step_id}' was already completed")
    if check_prerequisites:
        why = blocked_reason(spec, step_id, done)
        if why:
            raise StepBlocked(f"step '{step_id}' is blocked: {why}")
    enroll(conn, spec, partner_id, step.track, source=source, cause=cause, now=now)
    conn.execute(insert(COMPLETION).values(
        partner_id=partner_id, track=step.track, step=step_id, completed_at=now,
        source=source, cause=cause,
    ))
    changes: list[LocalChange] = []
    if step.kind == "certification" and source != "salesforce":
        created = _create_certification(conn, partner_id, step.certification or step.name,
                                        step_id, now)
        if created:
            changes.append(created)
    award = award_points(
        conn, partner_id, step.points, reason=f"step {step_id}: {step.name}", cause=cause,
        now=now, award_key=f"step|{partner_id}|{step_id}", step=step_id,
    ) if step.points else None
    if award is not None and award.done:
        changes += award.changes
    mirror = refresh_partner_mirror(conn, partner_id, now)  # certifications, points if no award
    changes += _next_step_tasks(conn, spec, partner, step, {*done, step_id}, now)
    changes = _merged([*changes, *([mirror] if mirror else [])])
    pts = award.points if award is not None and award.done else 0
    return Outcome(True, f"completed {step_id} ({step.kind}) +{pts} points", changes, pts)


def _merged(changes: list[LocalChange]) -> list[LocalChange]:
    """One change per row: later values of the same row folded into its first change."""
    out: dict[tuple[str, int], LocalChange] = {}
    for c in changes:
        key = (c.entity, c.local_id)
        first = out.get(key)
        if first is None:
            out[key] = c
            continue
        old = {**(c.old or {}), **(first.old or {})}
        changed = tuple(dict.fromkeys([*first.changed, *c.changed]))
        out[key] = LocalChange(first.entity, first.local_id, first.sf_id, first.op,
                               old if first.old is not None else None,
                               {**first.new, **c.new}, changed)
    return list(out.values())


def ladder_program(conn: Connection, spec: ProgramsSpec, pid: int) -> ProgramSpec | None:
    """The program whose ladder sets ``pid``'s tier: its membership's, else the first."""
    laddered = [p for p in spec.programs.values() if p.ladder is not None]
    if not laddered:
        return None
    member, program = entity_table("membership"), entity_table("program")
    names = set(conn.execute(
        select(program.c.name).select_from(member.join(program, program.c.id == member.c.program))
        .where(member.c.partner == pid, member.c.is_deleted.is_(False))).scalars())
    return next((p for p in laddered if p.name in names), laddered[0])


def refresh_segments(
    conn: Connection, spec: ProgramsSpec, now: datetime,
    partner_ids: Collection[int] | None = None, *, fiscal_year_start_month: int | None = None,
) -> tuple[list[SegmentEvent], dict[int, dict[str, str]]]:
    """Recompute segments of ``partner_ids`` (None: all) and record entries and exits.

    Also enrols partners in ``enrol: auto`` tracks newly open to them. Returns the events and,
    per partner, segments whose predicate failed on its values.
    """
    with bulk_build():  # every partner at a backfill: no collector passes while building
        facts = facts_for_partners(conn, spec, now.date(), partner_ids,
                                   fiscal_year_start_month=fiscal_year_start_month)
    events: list[SegmentEvent] = []
    errors: dict[int, dict[str, str]] = {}
    for pid, f in facts.items():
        inside, errs = segments_for(spec, f)
        if errs:
            errors[pid] = errs
        before = set(f["segments"])
        now_in = set(inside)
        for seg in sorted(now_in - before):
            conn.execute(insert(MEMBERSHIP).values(partner_id=pid, segment=seg, entered_at=now))
            events.append(SegmentEvent(pid, seg, "segment_entered", now))
        for seg in sorted(before - now_in):
            conn.execute(update(MEMBERSHIP).where(
                MEMBERSHIP.c.partner_id == pid, MEMBERSHIP.c.segment == seg,
                MEMBERSHIP.c.left_at.is_(None)).values(left_at=now))
            events.append(SegmentEvent(pid, seg, "segment_left", now))
        f["segments"] = sorted(now_in)
        for track in spec.tracks.values():
            if track.enrol == "auto" and is_open_to(track, f) \
                    and f["tracks"][track.id]["status"] == "not_enrolled":
                enroll(conn, spec, pid, track.id, source="auto", now=now,
                       cause=f"open to {f.get('type')}/{','.join(f['segments']) or '-'}")
    return events, errors


def local_diffs(changes: Sequence[LocalChange]) -> list[RecordDiff]:
    """Change-log entries (source "local") for rows a person's edit changed."""
    return [
        RecordDiff(
            entity=c.entity, sf_id=cast(str, c.sf_id), op=c.op, old=c.old, new=c.new,
            changed=c.changed, origin=None, modstamp=None, local_id=c.local_id, source="local",
        )
        for c in changes
    ]


def writes_for_changes(
    conn: Connection, mapping: MappingSpec, changes: Sequence[LocalChange], cause: str
) -> list[OutboxWrite]:
    """Outbox writes for rows a trigger action changed (the action's firing key as cause)."""
    writes, _ = build_writes(conn, mapping, [
        LocalRecord(c.entity, c.local_id, c.sf_id, dict(c.new), cause) for c in changes])
    return writes  # a row Salesforce cannot address yet is written once it has its id
