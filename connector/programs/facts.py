"""Programs' partner facts: the track group it adds to the partner layer's catalogue.

Every other fact (tier, points, revenue by fiscal quarter, MDF, segments...) is the partner
layer's (``connector.partners.facts``), with one meaning; programs contributes ``tracks``,
``tracks_completed`` and ``track_certifications`` (what ``certifications_in`` reads), which
need programs.yaml. ``facts_for_partners`` is the partner layer's engine with that catalogue.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from connector.partners.facts import (
    BASE_FACTS,
    COUNTRY_FIELDS,
    INDUSTRY_FIELDS,
    LEDGER,
    MEMBERSHIP,
    TYPE_FIELDS,
    Fact,
    FactCatalogue,
    FactEnv,
    FactGroup,
    bulk_build,
    compute_facts,
    grouped_rows,
    points_balance,
    today_env,
)
from connector.programs.evaluate import track_progress
from connector.programs.spec import ProgramsSpec
from connector.store.programs import Enrolment, StepCompletion

__all__ = [
    "COMPLETION",
    "COUNTRY_FIELDS",
    "ENROLMENT",
    "INDUSTRY_FIELDS",
    "LEDGER",
    "MEMBERSHIP",
    "TYPE_FIELDS",
    "bulk_build",
    "catalogue_for",
    "completed_steps",
    "facts_for_partners",
    "partner_facts",
    "points_balance",
    "track_group",
]

ENROLMENT: Table = Enrolment.__table__  # type: ignore[attr-defined]
COMPLETION: Table = StepCompletion.__table__  # type: ignore[attr-defined]
Facts = dict[int, dict[str, Any]]


def track_group(spec: ProgramsSpec | None) -> FactGroup:
    """The facts of programs.yaml's tracks (empty maps without programs.yaml)."""
    track_ids = tuple(spec.tracks) if spec is not None else ()
    sample_tracks = {t: {"status": "enrolled", "completed_steps": [], "percent": 0.0,
                         "certifications": 0, "completed": False} for t in track_ids}

    def load(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
             wanted: frozenset[str]) -> None:
        if spec is not None:
            _add_tracks(conn, spec, out, ids,
                        full=not wanted.isdisjoint({"tracks", "tracks_completed"}))

    return FactGroup((
        Fact("tracks", "map", "track id -> {status, completed_steps, percent, ...}", {},
             sample_tracks),
        Fact("tracks_completed", "int", "tracks completed", 0),
        Fact("track_certifications", "map", "track id -> certification steps completed", {},
             {t: 0 for t in track_ids}),
    ), load)


def catalogue_for(spec: ProgramsSpec | None) -> FactCatalogue:
    """The partner layer's catalogue with programs' track facts."""
    return BASE_FACTS.extended(track_group(spec))


def _add_tracks(
    conn: Connection, spec: ProgramsSpec, out: Facts, only: list[int] | None, *, full: bool
) -> None:
    enrolled: dict[int, set[str]] = defaultdict(set)
    done: dict[int, set[str]] = defaultdict(set)
    if full:  # per-track certification counts need only the completions
        stmt = select(ENROLMENT.c.partner_id, ENROLMENT.c.track)
        for pid, track in grouped_rows(conn, stmt, ENROLMENT.c.partner_id, only):
            enrolled[pid].add(track)
    stmt = select(COMPLETION.c.partner_id, COMPLETION.c.step)
    for pid, step in grouped_rows(conn, stmt, COMPLETION.c.partner_id, only):
        done[pid].add(step)
    tracks = spec.tracks
    certs = {tid: {s.id for s in t.steps if s.kind == "certification"}
             for tid, t in tracks.items()}
    none = {tid: 0 for tid in tracks}  # shared by partners with no completion (read-only)
    for pid, f in out.items():
        mine = done.get(pid, set())
        f["track_certifications"] = (
            {tid: len(ids & mine) for tid, ids in certs.items()} if mine else none
        )
        if not full:
            continue
        progress = {
            tid: track_progress(spec, t, mine, enrolled=tid in enrolled.get(pid, ()))
            for tid, t in tracks.items()
        }
        f["tracks"] = {tid: p.as_fact() for tid, p in progress.items()}
        f["tracks_completed"] = sum(1 for p in progress.values() if p.completed)


def facts_for_partners(
    conn: Connection,
    spec: ProgramsSpec | None,
    today: date,
    partner_ids: Collection[int] | None = None,
    *,
    fiscal_year_start_month: int | None = None,
    needed: Collection[str] | None = None,
) -> dict[int, dict[str, Any]]:
    """The ``partner`` map of each partner (every non-deleted one when ``partner_ids`` is
    None), computed by the partner layer's engine with programs' catalogue; ``needed`` (fact
    names) skips the groups no needed fact reads. Quarters: ``fiscal_year_start_month``,
    else the spec's (the runtime's fiscal calendar)."""
    catalogue = catalogue_for(spec) if spec is not None else BASE_FACTS
    if fiscal_year_start_month is None:
        fiscal_year_start_month = spec.fiscal_year_start_month if spec is not None else 1
    return compute_facts(conn, today_env(today, fiscal_year_start_month), partner_ids,
                         needed=needed, catalogue=catalogue)


def partner_facts(
    conn: Connection,
    partner_id: int,
    clock: Callable[[], datetime],
    *,
    spec: ProgramsSpec | None = None,
    fiscal_year_start_month: int | None = None,
) -> dict[str, Any]:
    """The ``partner`` map of one partner (empty dict when it is not in the store)."""
    got = facts_for_partners(conn, spec, clock().date(), [partner_id],
                             fiscal_year_start_month=fiscal_year_start_month)
    return got.get(partner_id, {})


def completed_steps(conn: Connection, partner_id: int) -> set[str]:
    """Step ids ``partner_id`` has completed."""
    stmt = select(COMPLETION.c.step).where(COMPLETION.c.partner_id == partner_id)
    return set(conn.execute(stmt).scalars())
