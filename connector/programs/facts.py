"""Partner facts for segments, tiers and rules, read from the store in a few grouped queries.

``facts_for_partners`` builds the ``partner`` map for many partners at once (segment previews
over every partner); ``partner_facts`` is the one-partner case triggers and the CLI use.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, case, func, or_, select

from connector.programs.evaluate import track_progress
from connector.programs.spec import LEVEL_RANKS, ProgramsSpec
from connector.store.models import entity_table
from connector.store.programs import Enrolment, PointsEntry, SegmentMembership, StepCompletion
from connector.triggers.facts import ACTIVE_REGISTRATION_STATUSES
from connector.triggers.fiscal import Quarter, quarter_of

__all__ = [
    "COUNTRY_FIELDS",
    "INDUSTRY_FIELDS",
    "TYPE_FIELDS",
    "Clock",
    "bulk_build",
    "completed_steps",
    "facts_for_partners",
    "partner_facts",
    "points_balance",
]

Clock = Callable[[], datetime]
Facts = dict[int, dict[str, Any]]
ENROLMENT: Table = Enrolment.__table__  # type: ignore[attr-defined]
COMPLETION: Table = StepCompletion.__table__  # type: ignore[attr-defined]
LEDGER: Table = PointsEntry.__table__  # type: ignore[attr-defined]
MEMBERSHIP: Table = SegmentMembership.__table__  # type: ignore[attr-defined]

# Local names the mapping may give Account fields (a column, or a key of ``extra``).
TYPE_FIELDS = ("partner_type", "type")
COUNTRY_FIELDS = ("billing_country", "country")
INDUSTRY_FIELDS = ("industry",)
_CHUNK = 900  # bound parameters per IN list (SQLite's limit is 999 on old builds)


@contextmanager
def bulk_build() -> Iterator[None]:
    """No cyclic garbage collection while facts for many partners are built.

    Building 10,000 small dicts and lists sets off full collections over every live object
    again and again (they hold no reference cycles, so those passes free nothing): with them a
    segment preview spent about half its time in the collector. Re-enabled on exit.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _pick(row: dict[str, Any], names: Iterable[str]) -> Any:
    extra = row.get("extra") or {}
    for n in names:
        if row.get(n) not in (None, ""):
            return row[n]
        if extra.get(n) not in (None, ""):
            return extra[n]
    return None


def _grouped(
    conn: Connection, stmt: Any, column: Any, ids: list[int] | None
) -> Iterator[Any]:
    """Rows of ``stmt``, restricted to partners ``ids`` (None: every partner)."""
    if ids is None:
        yield from conn.execute(stmt).all()
        return
    for chunk in _chunks(ids):
        yield from conn.execute(stmt.where(column.in_(chunk))).all()


def facts_for_partners(
    conn: Connection,
    spec: ProgramsSpec | None,
    today: date,
    partner_ids: Collection[int] | None = None,
    *,
    fiscal_year_start_month: int = 1,
    needed: Collection[str] | None = None,
) -> dict[int, dict[str, Any]]:
    """The ``partner`` fact map of each partner (every non-deleted one when ``partner_ids`` is
    None); segments are the stored open memberships. ``needed`` (fact names) skips the
    queries no needed fact reads: a segment preview over every partner reads few."""
    want = _Wanted(needed)
    partner = entity_table("partner")
    ids = None if partner_ids is None else sorted(set(partner_ids))
    account = want("type", "country", "industry")
    cols = [partner.c.id, partner.c.sf_id, partner.c.name, partner.c.status, partner.c.tier,
            partner.c.points]
    if account:  # the columns the default mapping fills (Partner_Type__c, BillingCountry, ...)
        cols += [partner.c[n] for n in (TYPE_FIELDS[0], COUNTRY_FIELDS[0], INDUSTRY_FIELDS[0])]
    base = select(*cols).where(partner.c.is_deleted.is_(False))
    # only the aggregates asked for get a starting value (a preview over every partner
    # builds 10,000 of these maps: each key costs)
    defaults = [(k, _DEFAULTS[k]) for group in _GROUPS if want(*group) for k in group]
    out: dict[int, dict[str, Any]] = {}
    for row in _grouped(conn, base, partner.c.id, ids):  # the partner rows: always
        tier = row[4] or ""
        f = {"id": row[0], "sf_id": row[1], "name": row[2], "status": row[3], "tier": tier,
             "tier_rank": LEVEL_RANKS.get(tier, 0),
             # before a partner's first ledger row its balance is what it held
             "points": round(float(row[5] or 0)),
             "type": None, "country": None, "industry": None}
        if account:
            f["type"], f["country"], f["industry"] = row[6], row[7], row[8]
        for k, v in defaults:
            f[k] = v.copy() if isinstance(v, (list, dict)) else v
        out[row[0]] = f
    if account and any(None in (f["type"], f["country"], f["industry"]) for f in out.values()):
        _add_account_fallbacks(conn, out, ids)
    if not out:
        return out
    only = None if ids is None else list(out)

    if want("certifications", "certification_names"):
        _add_certifications(conn, out, only)
    if want("closed_won_this_quarter", "closed_won_last_quarter", "closed_won_trailing_4q"):
        _add_revenue(conn, out, only, quarter_of(today, fiscal_year_start_month))
    if want("active_registrations"):
        _add_registrations(conn, out, only)
    if want("points"):
        _add_points(conn, out, only)
    if want("segments"):
        _add_segments(conn, out, only)
    if spec is not None and want("tracks", "tracks_completed", "track_certifications"):
        _add_tracks(conn, spec, out, only, full=want("tracks", "tracks_completed"))
    return out


# Aggregates and their value for a partner with no rows behind them.
_DEFAULTS: dict[str, Any] = {
    "certifications": 0,
    "certification_names": [],
    "track_certifications": {},
    "closed_won_this_quarter": 0.0,
    "closed_won_last_quarter": 0.0,
    "closed_won_trailing_4q": 0.0,
    "active_registrations": 0,
    "segments": [],
    "tracks": {},
    "tracks_completed": 0,
}


# Facts one query fills together: any of a group asked for gives the whole group.
_GROUPS: tuple[tuple[str, ...], ...] = (
    ("certifications", "certification_names"),
    ("closed_won_this_quarter", "closed_won_last_quarter", "closed_won_trailing_4q"),
    ("active_registrations",),
    ("segments",),
    ("tracks", "tracks_completed", "track_certifications"),
)


def _add_account_fallbacks(conn: Connection, out: Facts, ids: list[int] | None) -> None:
    """Type, country and industry from ``extra`` where the columns are empty: a mapping that
    keeps them under another local name (``type``, ``country``). Reads only such rows."""
    partner = entity_table("partner")
    c = partner.c
    stmt = select(c.id, c.extra).where(
        c.is_deleted.is_(False), c.extra.is_not(None),
        or_(c.partner_type.is_(None), c.billing_country.is_(None), c.industry.is_(None)))
    for pid, extra in _grouped(conn, stmt, c.id, ids):
        f = out.get(pid)
        if f is None or not extra:
            continue
        for fact, names in (("type", TYPE_FIELDS), ("country", COUNTRY_FIELDS),
                            ("industry", INDUSTRY_FIELDS)):
            if f[fact] in (None, ""):
                f[fact] = _pick({"extra": extra}, names)


class _Wanted:
    """Whether any of some facts is needed (all are when no list is given)."""

    def __init__(self, needed: Collection[str] | None) -> None:
        self.needed = None if needed is None else frozenset(needed)

    def __call__(self, *names: str) -> bool:
        return self.needed is None or not self.needed.isdisjoint(names)


def _add_certifications(conn: Connection, out: Facts, only: list[int] | None) -> None:
    cert = entity_table("certification")
    stmt = select(cert.c.partner, cert.c.name).where(
        cert.c.is_deleted.is_(False), cert.c.partner.is_not(None)
    )
    for pid, name in _grouped(conn, stmt, cert.c.partner, only):
        if pid in out:
            out[pid]["certification_names"].append(name or "")
            out[pid]["certifications"] += 1


def _add_revenue(conn: Connection, out: Facts, only: list[int] | None, q: Quarter) -> None:
    last, first = q.shift(-1), q.shift(-4)
    deal = entity_table("deal")
    amount = func.coalesce(deal.c.amount, 0.0)

    def between(start: date, end: date) -> Any:
        cond = and_(deal.c.close_date >= start, deal.c.close_date < end)
        return func.sum(case((cond, amount), else_=0.0))

    stmt = (
        select(deal.c.partner, between(q.start, q.end), between(last.start, last.end),
               between(first.start, q.start))
        .where(deal.c.is_won.is_(True), deal.c.is_deleted.is_(False),
               deal.c.close_date >= first.start, deal.c.partner.is_not(None))
        .group_by(deal.c.partner)
    )
    for pid, this_q, last_q, trailing in _grouped(conn, stmt, deal.c.partner, only):
        if pid in out:
            f = out[pid]
            f["closed_won_this_quarter"] = float(this_q or 0.0)
            f["closed_won_last_quarter"] = float(last_q or 0.0)
            f["closed_won_trailing_4q"] = float(trailing or 0.0)


def _add_registrations(conn: Connection, out: Facts, only: list[int] | None) -> None:
    reg = entity_table("deal_registration")
    stmt = (
        select(reg.c.partner, func.count())
        .where(reg.c.is_deleted.is_(False), reg.c.status.in_(ACTIVE_REGISTRATION_STATUSES))
        .group_by(reg.c.partner)
    )
    for pid, n in _grouped(conn, stmt, reg.c.partner, only):
        if pid in out:
            out[pid]["active_registrations"] = int(n)


def _add_points(conn: Connection, out: Facts, only: list[int] | None) -> None:
    stmt = select(LEDGER.c.partner_id, func.sum(LEDGER.c.points)).group_by(LEDGER.c.partner_id)
    for pid, total in _grouped(conn, stmt, LEDGER.c.partner_id, only):
        if pid in out:
            out[pid]["points"] = int(total or 0)


def _add_segments(conn: Connection, out: Facts, only: list[int] | None) -> None:
    stmt = select(MEMBERSHIP.c.partner_id, MEMBERSHIP.c.segment).where(
        MEMBERSHIP.c.left_at.is_(None)
    )
    for pid, seg in _grouped(conn, stmt, MEMBERSHIP.c.partner_id, only):
        if pid in out:
            out[pid]["segments"].append(seg)
    for f in out.values():
        f["segments"].sort()


def _add_tracks(
    conn: Connection, spec: ProgramsSpec, out: Facts, only: list[int] | None, *, full: bool
) -> None:
    enrolled: dict[int, set[str]] = defaultdict(set)
    done: dict[int, set[str]] = defaultdict(set)
    if full:  # per-track certification counts need only the completions
        stmt = select(ENROLMENT.c.partner_id, ENROLMENT.c.track)
        for pid, track in _grouped(conn, stmt, ENROLMENT.c.partner_id, only):
            enrolled[pid].add(track)
    stmt = select(COMPLETION.c.partner_id, COMPLETION.c.step)
    for pid, step in _grouped(conn, stmt, COMPLETION.c.partner_id, only):
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


def partner_facts(
    conn: Connection,
    partner_id: int,
    clock: Clock,
    *,
    spec: ProgramsSpec | None = None,
    fiscal_year_start_month: int = 1,
) -> dict[str, Any]:
    """The ``partner`` map of one partner (empty dict when it is not in the store)."""
    got = facts_for_partners(
        conn, spec, clock().date(), [partner_id], fiscal_year_start_month=fiscal_year_start_month
    )
    return got.get(partner_id, {})


def completed_steps(conn: Connection, partner_id: int) -> set[str]:
    """Step ids ``partner_id`` has completed."""
    stmt = select(COMPLETION.c.step).where(COMPLETION.c.partner_id == partner_id)
    return set(conn.execute(stmt).scalars())


def points_balance(conn: Connection, partner_id: int) -> int:
    """A partner's balance: the sum of its ledger (the only place points are kept)."""
    stmt = select(func.coalesce(func.sum(LEDGER.c.points), 0)).where(
        LEDGER.c.partner_id == partner_id
    )
    return int(conn.execute(stmt).scalar() or 0)


