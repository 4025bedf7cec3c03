"""What the CLI (and later the web pages) show about programs: JSON-ready dicts from the store.

``partner_report`` answers `partner show`, ``eligibility`` answers `partner eligible` (what a
partner portal needs), ``segment_preview`` answers `segments preview`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from connector.errors import ConfigError, ConfigProblem
from connector.mapping.names import did_you_mean
from connector.partners.facts import level_ranks
from connector.programs.celexpr import CelCheckError, evaluate_many, prepare_predicate
from connector.programs.evaluate import (
    TierResult,
    eligible_incentives,
    is_open_to,
    segments_for,
    tier_for,
    track_progress,
)
from connector.programs.facts import (
    COMPLETION,
    ENROLMENT,
    LEDGER,
    MEMBERSHIP,
    bulk_build,
    completed_steps,
    facts_for_partners,
)
from connector.programs.operations import UnknownName
from connector.programs.spec import ProgramsSpec
from connector.store.models import entity_table

__all__ = [
    "eligibility",
    "eligibility_from_facts",
    "partner_report",
    "program_overview",
    "programs_summary",
    "resolve_partner",
    "segment_preview",
    "tiers_for",
    "track_funnel",
]

_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def resolve_partner(conn: Connection, text: str) -> int:
    """A partner's local id from its local id, Salesforce id or name (any case)."""
    partner = entity_table("partner")
    live = partner.c.is_deleted.is_(False)
    if text.isdigit():
        got = conn.execute(select(partner.c.id).where(partner.c.id == int(text), live)).scalar()
        if got is not None:
            return int(got)
    if _SF_ID.match(text):
        got = conn.execute(select(partner.c.id).where(partner.c.sf_id == text, live)).scalar()
        if got is not None:
            return int(got)
    rows = conn.execute(select(partner.c.id, partner.c.name).where(
        func.lower(partner.c.name) == text.lower(), live)).all()
    if len(rows) == 1:
        return int(rows[0][0])
    if len(rows) > 1:
        ids = ", ".join(str(r[0]) for r in rows)
        raise UnknownName(f"{len(rows)} partners are called '{text}' (local ids {ids}): "
                          "give the id instead")
    names = [n for n in conn.execute(select(partner.c.name).where(
        func.lower(partner.c.name).like(f"%{text.lower()[:3]}%"), live).limit(200)).scalars()
        if n]
    containing = sorted(n for n in names if text.lower() in n.lower())
    if containing:  # a part of a name: say which, never guess (record commands write)
        shown = ", ".join(f"'{n}'" for n in containing[:5])
        more = f" and {len(containing) - 5} more" if len(containing) > 5 else ""
        hint = f" (partners whose name contains it: {shown}{more})"
    else:
        hint = did_you_mean(text, names)
    raise UnknownName(f"no partner '{text}' (a local id, Salesforce id or name){hint}")


def tiers_for(
    spec: ProgramsSpec, facts: dict[str, Any], ranks: dict[str, float] | None = None
) -> dict[str, TierResult]:
    """Program id -> the tier its ladder gives this partner (``ranks``: the level table's)."""
    return {pid: tier_for(p.ladder, facts, ranks)
            for pid, p in spec.programs.items() if p.ladder}


def _facts(conn: Connection, spec: ProgramsSpec, pid: int, now: datetime) -> dict[str, Any]:
    got = facts_for_partners(conn, spec, now.date(), [pid])
    if pid not in got:
        raise UnknownName(f"no partner with local id {pid}")
    return got[pid]


def partner_report(
    conn: Connection, spec: ProgramsSpec, partner_id: int, now: datetime
) -> dict[str, Any]:
    """Facts, segments, tracks with progress, ledger, tier and why, and eligibility."""
    facts = _facts(conn, spec, partner_id, now)
    done = completed_steps(conn, partner_id)
    when = {r.step: r for r in conn.execute(select(COMPLETION).where(
        COMPLETION.c.partner_id == partner_id)).mappings().all()}
    tracks = []
    for tid, t in spec.tracks.items():
        enrolled = facts["tracks"][tid]["status"] != "not_enrolled"
        prog = track_progress(spec, t, done, enrolled=enrolled)
        tracks.append({
            "track": tid, "name": t.name, "program": t.program, "status": prog.status,
            "percent": prog.percent, "open": is_open_to(t, facts),
            "next_step": prog.next_step, "blocked": prog.blocked,
            "steps": [
                {"step": s.id, "name": s.name, "kind": s.kind, "points": s.points,
                 "done": s.id in done,
                 "completed_at": when[s.id]["completed_at"] if s.id in when else None,
                 "source": when[s.id]["source"] if s.id in when else None}
                for s in t.steps
            ],
        })
    ledger = [dict(r) for r in conn.execute(select(
        LEDGER.c.points, LEDGER.c.reason, LEDGER.c.cause, LEDGER.c.step, LEDGER.c.awarded_at,
    ).where(LEDGER.c.partner_id == partner_id).order_by(LEDGER.c.id)).mappings()]
    stays = [dict(r) for r in conn.execute(select(
        MEMBERSHIP.c.segment, MEMBERSHIP.c.entered_at, MEMBERSHIP.c.left_at,
    ).where(MEMBERSHIP.c.partner_id == partner_id).order_by(MEMBERSHIP.c.id)).mappings()]
    computed, errors = segments_for(spec, facts)
    ranks = level_ranks(conn)
    tiers = tiers_for(spec, facts, ranks)
    shown = {k: v for k, v in facts.items() if k not in ("tracks", "certification_names")}
    return {
        "partner": {"id": partner_id, "name": facts.get("name"), "sf_id": facts.get("sf_id")},
        "facts": shown,
        "segments": facts["segments"],
        "segments_now": computed,
        "segment_errors": errors,
        "segment_history": stays,
        "tracks": tracks,
        "points": {"balance": sum(e["points"] for e in ledger), "ledger": ledger},
        "tiers": {pid: {"level": t.level, "variant": t.variant, "why": t.why(),
                        "current": facts.get("tier") or None}
                  for pid, t in tiers.items()},
        "incentives": [
            {"incentive": e.incentive.id, "name": e.incentive.name, "kind": e.incentive.kind,
             "eligible": e.eligible, "why": e.why}
            for e in eligible_incentives(spec, facts, tiers, ranks)
        ],
    }


def eligibility(
    conn: Connection, spec: ProgramsSpec, partner_id: int, now: datetime
) -> dict[str, Any]:
    """The programs, tracks and incentives ``partner_id`` may see (a partner portal's view)."""
    return eligibility_from_facts(spec, partner_id, _facts(conn, spec, partner_id, now),
                                  level_ranks(conn))


def eligibility_from_facts(
    spec: ProgramsSpec, partner_id: int, facts: dict[str, Any],
    ranks: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``eligibility`` from a partner's facts already built (the portal write-back builds
    them for many partners at once); ``ranks``: the level table's (``level_ranks``)."""
    tiers = tiers_for(spec, facts, ranks)
    programs = []
    for pid, p in spec.programs.items():
        open_tracks = [t.id for t in p.tracks if is_open_to(t, facts)]
        tier = tiers.get(pid)
        programs.append({"program": pid, "name": p.name, "tracks": open_tracks,
                         "tier": tier.level if tier else None})
    incentives = [
        {"incentive": e.incentive.id, "name": e.incentive.name, "kind": e.incentive.kind,
         "program": e.incentive.program, "amount": e.incentive.amount,
         "percent": e.incentive.percent, "why": e.why}
        for e in eligible_incentives(spec, facts, tiers, ranks) if e.eligible
    ]
    return {"partner": {"id": partner_id, "name": facts.get("name")},
            "segments": facts["segments"], "programs": programs, "incentives": incentives}


def segment_preview(
    conn: Connection, spec: ProgramsSpec, name: str, now: datetime, *, when: str | None = None
) -> dict[str, Any]:
    """Who is in segment ``name`` now, and who would enter or leave under ``when`` (a draft;
    default: the configured definition, showing what the next refresh would change)."""
    if name not in spec.segments and when is None:
        raise UnknownName(f"unknown segment '{name}'{did_you_mean(name, spec.segments)} "
                          f"(known: {', '.join(spec.segments) or 'none'}; give --when to "
                          "preview a new one)")
    source = when if when is not None else spec.segments[name].when
    try:
        pred = prepare_predicate(source)  # compiled once for every partner
    except CelCheckError as err:
        raise ConfigError([ConfigProblem("--when", 1, 1, str(err))]) from None
    members = set(conn.execute(select(MEMBERSHIP.c.partner_id).where(
        MEMBERSHIP.c.segment == name, MEMBERSHIP.c.left_at.is_(None))).scalars())
    with bulk_build():  # 10,000 small maps: no garbage collection passes while they are built
        facts = facts_for_partners(conn, spec, now.date(), needed={"name", *pred.needs})
        results = evaluate_many(pred, facts)
    would: set[int] = set()
    errors: dict[int, str] = {}
    for pid, result in results.items():
        if isinstance(result, Exception):
            errors[pid] = str(result).split("\n", 1)[0]
        elif result is True:
            would.add(pid)
        elif not isinstance(result, bool):
            raise ConfigError([ConfigProblem("--when", 1, 1, (
                f"must be true or false, got {type(result).__name__}"))])

    def named(ids: set[int]) -> list[dict[str, Any]]:
        return [{"id": i, "name": facts[i]["name"] if i in facts else None} for i in sorted(ids)]

    return {
        "segment": name,
        "definition": source,
        "draft": when is not None,
        "partners": len(facts),
        "members": named(members),
        "would_be_members": len(would),
        "enter": named(would - members),
        "leave": named(members - would),
        "errors": [{"id": i, "error": e} for i, e in sorted(errors.items())][:20],
        "error_count": len(errors),
    }


def program_overview(spec: ProgramsSpec) -> dict[str, Any]:
    """The configured programs, tracks, ladders, segments and incentives, JSON-ready."""
    return {
        "segments": [{"segment": s.name, "when": s.when, "description": s.description}
                     for s in spec.segments.values()],
        "programs": [
            {
                "program": p.id, "name": p.name,
                "tracks": [
                    {"track": t.id, "name": t.name, "enrol": t.enrol,
                     "open_to": {"segments": list(t.segments),
                                 "partner_types": list(t.partner_types)},
                     "requires": list(t.requires), "sequential": t.sequential,
                     "steps": [{"step": s.id, "kind": s.kind, "name": s.name,
                                "points": s.points, "requires": list(s.requires),
                                "certification": s.certification} for s in t.steps]}
                    for t in p.tracks
                ],
                "ladder": None if p.ladder is None else {
                    "levels": [{"level": c.level, "min": dict(c.minimums),
                                "tracks": list(c.tracks)} for c in p.ladder.levels],
                    "variants": [{"variant": v.id, "countries": list(v.countries),
                                  "industries": list(v.industries),
                                  "levels": [{"level": c.level, "min": dict(c.minimums),
                                              "tracks": list(c.tracks)} for c in v.levels]}
                                 for v in p.ladder.variants],
                },
            }
            for p in spec.programs.values()
        ],
        "incentives": [
            {"incentive": i.id, "program": i.program, "kind": i.kind, "name": i.name,
             "amount": i.amount, "percent": i.percent,
             "eligible": {"segments": list(i.eligible.segments),
                          "min_tier": i.eligible.min_tier,
                          "partner_types": list(i.eligible.partner_types)}}
            for i in spec.incentives.values()
        ],
    }


def programs_summary(conn: Connection, segments: Iterable[str]) -> dict[str, Any]:
    """Members now of each of ``segments`` (the configured ones), enrolments, steps completed
    and the ledger's total (for ``status``)."""
    seg = MEMBERSHIP.c
    members: dict[str, int] = {str(name): int(n) for name, n in conn.execute(
        select(seg.segment, func.count()).where(seg.left_at.is_(None)).group_by(seg.segment))}

    def count(table: Any) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    return {
        "segments": {name: int(members.get(name, 0)) for name in sorted(segments)},
        "enrolments": count(ENROLMENT),
        "steps_completed": count(COMPLETION),
        "points": int(conn.execute(select(func.coalesce(func.sum(LEDGER.c.points), 0)))
                      .scalar_one()),
    }


def track_funnel(conn: Connection, spec: ProgramsSpec) -> list[dict[str, Any]]:
    """Per track: partners enrolled, then how many completed each step (in the track's order),
    for a completion funnel."""
    enrolled: dict[str, int] = {str(t): int(n) for t, n in conn.execute(
        select(ENROLMENT.c.track, func.count(func.distinct(ENROLMENT.c.partner_id)))
        .group_by(ENROLMENT.c.track))}
    done: dict[tuple[str, str], int] = {(str(t), str(s)): int(n) for t, s, n in conn.execute(
        select(COMPLETION.c.track, COMPLETION.c.step,
               func.count(func.distinct(COMPLETION.c.partner_id)))
        .group_by(COMPLETION.c.track, COMPLETION.c.step))}
    return [
        {"program": p.id, "track": t.id, "name": t.name, "enrolled": enrolled.get(t.id, 0),
         "steps": [{"step": s.id, "name": s.name, "completed": done.get((t.id, s.id), 0)}
                   for s in t.steps]}
        for p in spec.programs.values() for t in p.tracks
    ]
