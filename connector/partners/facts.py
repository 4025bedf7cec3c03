"""Partner facts: one catalogue (each name one meaning) and one batched engine.

The engine builds the ``partner`` map of many partners in a few grouped queries (one per
group of facts, never one per fact per partner) and computes only the groups some caller
asked for. Triggers (``PartnerContext``), segments, ladders and the CLI all read it.

Meanings, once:
- ``tier``: the name of the partner's highest-ranked membership level (the level table);
  without a membership, the partner's tier mirror. ``tier_rank``: that level's rank in the
  store's level table (0 without one). Never a hard-coded rank table.
- ``points``: the sum of the partner's points ledger; before its first ledger row, the
  balance the partner held.
- quarters follow the fiscal calendar (``FactEnv.fiscal_year_start_month``).

A package above (programs) may contribute more facts as a ``FactGroup`` (tracks), through
``FactCatalogue.extended``; the catalogue then belongs to a runtime's rule environment.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, case, func, select

from connector.partners.fiscal import Quarter, quarter_of
from connector.store.models import column_types, entity_table
from connector.store.programs import PointsEntry, SegmentMembership

__all__ = [
    "ACTIVE_REGISTRATION_STATUSES",
    "BASE_FACTS",
    "COUNTRY_FIELDS",
    "INDUSTRY_FIELDS",
    "TYPE_FIELDS",
    "Fact",
    "FactCatalogue",
    "FactEnv",
    "FactGroup",
    "PartnerContext",
    "bulk_build",
    "compute_facts",
    "grouped_rows",
    "level_ranks",
    "points_balance",
]

ACTIVE_REGISTRATION_STATUSES = ("Submitted", "Pending Review", "Approved")
LEDGER: Table = PointsEntry.__table__  # type: ignore[attr-defined]
MEMBERSHIP: Table = SegmentMembership.__table__  # type: ignore[attr-defined]

# Local names the mapping may give Account fields (a column, or a key of ``extra``).
TYPE_FIELDS = ("partner_type", "type")
COUNTRY_FIELDS = ("billing_country", "country")
INDUSTRY_FIELDS = ("industry",)
_CHUNK = 900  # bound parameters per IN list (SQLite's limit is 999 on old builds)

Facts = dict[int, dict[str, Any]]


@dataclass(frozen=True)
class FactEnv:
    """What facts are computed against: the clock and the fiscal calendar."""

    now: datetime
    fiscal_year_start_month: int = 1

    @property
    def quarter(self) -> Quarter:
        """The current fiscal quarter."""
        return quarter_of(self.now.date(), self.fiscal_year_start_month)


# fills ``out`` (partner id -> map) for partners ``ids`` (None: every partner) and the names
# asked for (a loader may fill its whole group)
Loader = Callable[[Connection, Facts, "list[int] | None", FactEnv, frozenset[str]], None]


@dataclass(frozen=True)
class Fact:
    """One named partner fact: its local type (for load-time checks), what it means, the value
    of a partner with no rows behind it, and the load-time probe's value."""

    name: str
    type: str
    description: str
    default: Any = None
    sample: Any = None


@dataclass(frozen=True)
class FactGroup:
    """Facts one loader fills together (any of them asked for runs the loader once).

    ``columns``: partner columns the loader reads, fetched with the partner row and handed
    to it as ``_<column>`` keys (removed once every loader has run). ``reads``: the store
    tables its values come from (an entity's table bears its name), so a change to other
    tables' rows leaves them as they are; None (unknown): any change may move them."""

    facts: tuple[Fact, ...]
    load: Loader
    columns: tuple[str, ...] = ()
    reads: frozenset[str] | None = None

    @property
    def names(self) -> frozenset[str]:
        """The group's fact names."""
        return frozenset(f.name for f in self.facts)


@dataclass(frozen=True)
class FactCatalogue:
    """Every partner fact by name, and the groups that compute them."""

    groups: tuple[FactGroup, ...]
    facts: Mapping[str, Fact] = field(init=False)

    def __post_init__(self) -> None:
        facts: dict[str, Fact] = {}
        for g in self.groups:
            for f in g.facts:
                facts[f.name] = f
        object.__setattr__(self, "facts", facts)

    def __contains__(self, name: object) -> bool:
        return name in self.facts

    def extended(self, *groups: FactGroup) -> FactCatalogue:
        """This catalogue with ``groups`` added (a fact of the same name is replaced)."""
        names = {f.name for g in groups for f in g.facts}
        kept = []
        for g in self.groups:
            rest = tuple(f for f in g.facts if f.name not in names)
            if rest:
                kept.append(g if len(rest) == len(g.facts)
                            else FactGroup(rest, g.load, g.columns, g.reads))
        return FactCatalogue((*kept, *groups))

    def reads(self, needed: Collection[str] | None) -> frozenset[str] | None:
        """The store tables the maps of ``needed`` (None: every fact) are read from: the
        partner row and the tables behind the facts asked for; None when a group's are
        unknown."""
        names = frozenset(self.facts) if needed is None else frozenset(needed)
        out = {"partner"}
        for g in self.groups:
            if g.names.isdisjoint(names):
                continue
            if g.reads is None:
                return None
            out |= g.reads
        return frozenset(out)

    def types(self) -> dict[str, str]:
        """Fact name -> local type name."""
        return {n: f.type for n, f in self.facts.items()}

    def samples(self) -> dict[str, Any]:
        """Fact name -> the probe's value (the default when no sample is given)."""
        return {n: f.sample if f.sample is not None else f.default
                for n, f in self.facts.items()}


@contextmanager
def bulk_build() -> Iterator[None]:
    """No cyclic garbage collection while facts for many partners are built.

    Building 10,000 small dicts and lists sets off full collections over every live object
    again and again (they hold no reference cycles, so those passes free nothing). Re-enabled
    on exit.
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


def grouped_rows(conn: Connection, stmt: Any, column: Any, ids: list[int] | None
                 ) -> Iterator[Any]:
    """Rows of ``stmt``, restricted to partners ``ids`` (None: every partner)."""
    if ids is None:
        yield from conn.execute(stmt).all()
        return
    for chunk in _chunks(ids):
        yield from conn.execute(stmt.where(column.in_(chunk))).all()


def _pick(extra: Mapping[str, Any], names: Iterable[str]) -> Any:
    for n in names:
        if extra.get(n) not in (None, ""):
            return extra[n]
    return None


# -- the built-in groups --------------------------------------------------------------------


_ACCOUNT = (("type", TYPE_FIELDS), ("country", COUNTRY_FIELDS),
            ("industry", INDUSTRY_FIELDS))


def _load_account(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
                  wanted: frozenset[str]) -> None:
    """Type, country and industry: the default mapping's columns (read with the partner
    row), else ``extra`` under another local name (``type``, ``country``): read only for the
    partners missing one."""
    missing = []
    for pid, f in out.items():
        for fact, names in _ACCOUNT:
            value = f.get(f"_{names[0]}")
            f[fact] = None if value in (None, "") else value
        if None in (f["type"], f["country"], f["industry"]):
            missing.append(pid)
    if not missing:
        return
    partner = entity_table("partner")
    c = partner.c
    stmt = select(c.id, c.extra).where(c.is_deleted.is_(False), c.extra.is_not(None))
    for pid, extra in grouped_rows(conn, stmt, c.id, missing if ids is not None else None):
        one = out.get(pid)
        if one is None or not extra:
            continue
        for fact, names in _ACCOUNT:
            if one[fact] is None:
                one[fact] = _pick(extra, names)


def _load_tier(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
               wanted: frozenset[str]) -> None:
    """The highest-ranked membership level; else the level named by the tier mirror."""
    member, level = entity_table("membership"), entity_table("level")
    stmt = (select(member.c.partner, level.c.name, level.c.rank)
            .select_from(member.join(level, level.c.id == member.c.level))
            .where(member.c.is_deleted.is_(False), level.c.is_deleted.is_(False)))
    best: dict[int, tuple[float, str]] = {}
    for pid, name, rank in grouped_rows(conn, stmt, member.c.partner, ids):
        r = float(rank or 0.0)
        if pid in out and (pid not in best or r > best[pid][0]):
            best[pid] = (r, name or "")
    mirrors: dict[str, list[dict[str, Any]]] = {}
    for pid, f in out.items():
        if pid in best:
            f["tier_rank"], f["tier"] = best[pid]
            continue
        f["tier"] = f.get("_tier") or ""
        if f["tier"]:
            mirrors.setdefault(f["tier"], []).append(f)
    if mirrors:  # no membership: the rank of the level the mirror names
        for name, rank in level_ranks(conn, list(mirrors)).items():
            for f in mirrors.get(name, ()):
                f["tier_rank"] = rank


def level_ranks(conn: Connection, names: list[str] | None = None) -> dict[str, float]:
    """Level name -> its rank in the store's level table (the highest, where programs share
    a name), for ``names`` or every level; empty before the levels are synced."""
    level = entity_table("level")
    stmt = select(level.c.name, func.max(level.c.rank)).where(level.c.is_deleted.is_(False))
    if names is not None:
        stmt = stmt.where(level.c.name.in_(names))
    rows = conn.execute(stmt.group_by(level.c.name)).all()
    return {name: float(rank or 0.0) for name, rank in rows if name}


def _load_certifications(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
                         wanted: frozenset[str]) -> None:
    cert = entity_table("certification")
    stmt = select(cert.c.partner, cert.c.name).where(
        cert.c.is_deleted.is_(False), cert.c.partner.is_not(None))
    for pid, name in grouped_rows(conn, stmt, cert.c.partner, ids):
        if pid in out:
            out[pid]["certification_names"].append(name or "")
            out[pid]["certifications"] += 1


_REVENUE = {  # fact -> (first quarter back, quarters) relative to the current quarter
    "closed_won_this_quarter": (0, 1),
    "closed_won_last_quarter": (-1, 1),
    "closed_won_two_quarters_ago": (-2, 1),
    "closed_won_three_quarters_ago": (-3, 1),
    "closed_won_trailing_4q": (-4, 4),
}


def _load_revenue(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
                  wanted: frozenset[str]) -> None:
    q = env.quarter
    deal = entity_table("deal")
    amount = func.coalesce(deal.c.amount, 0.0)
    names = list(_REVENUE)
    sums = []
    for name in names:
        back, n = _REVENUE[name]
        start, end = q.shift(back).start, q.shift(back + n).start
        cond = and_(deal.c.close_date >= start, deal.c.close_date < end)
        sums.append(func.sum(case((cond, amount), else_=0.0)))
    stmt = (select(deal.c.partner, *sums)
            .where(deal.c.is_won.is_(True), deal.c.is_deleted.is_(False),
                   deal.c.close_date >= q.shift(-4).start, deal.c.partner.is_not(None))
            .group_by(deal.c.partner))
    for pid, *values in grouped_rows(conn, stmt, deal.c.partner, ids):
        if pid in out:
            f = out[pid]
            for name, v in zip(names, values, strict=True):
                f[name] = float(v or 0.0)


def _load_registrations(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
                        wanted: frozenset[str]) -> None:
    reg = entity_table("deal_registration")
    stmt = (select(reg.c.partner, func.count())
            .where(reg.c.is_deleted.is_(False), reg.c.status.in_(ACTIVE_REGISTRATION_STATUSES))
            .group_by(reg.c.partner))
    for pid, n in grouped_rows(conn, stmt, reg.c.partner, ids):
        if pid in out:
            out[pid]["active_registrations"] = int(n)


def _load_points(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
                 wanted: frozenset[str]) -> None:
    """The ledger's sum; a partner with no ledger row keeps the balance it held."""
    for f in out.values():
        f["points"] = float(round(float(f.get("_points") or 0)))
    stmt = select(LEDGER.c.partner_id, func.sum(LEDGER.c.points)).group_by(LEDGER.c.partner_id)
    for pid, total in grouped_rows(conn, stmt, LEDGER.c.partner_id, ids):
        if pid in out:
            out[pid]["points"] = float(total or 0)


def _load_mdf(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
              wanted: frozenset[str]) -> None:
    alloc, req = entity_table("mdf_allocation"), entity_table("mdf_request")
    stmt = (select(alloc.c.partner, func.sum(func.coalesce(alloc.c.amount, 0.0)))
            .where(alloc.c.is_deleted.is_(False), alloc.c.partner.is_not(None))
            .group_by(alloc.c.partner))
    for pid, total in grouped_rows(conn, stmt, alloc.c.partner, ids):
        if pid in out:
            out[pid]["mdf_remaining"] += float(total or 0.0)
    spent = func.coalesce(req.c.amount, req.c.requested_amount, 0.0)
    stmt = (select(req.c.partner, func.sum(spent))
            .where(req.c.is_deleted.is_(False), req.c.status == "Approved",
                   req.c.partner.is_not(None))
            .group_by(req.c.partner))
    for pid, total in grouped_rows(conn, stmt, req.c.partner, ids):
        if pid in out:
            out[pid]["mdf_remaining"] -= float(total or 0.0)


def _load_segments(conn: Connection, out: Facts, ids: list[int] | None, env: FactEnv,
                   wanted: frozenset[str]) -> None:
    stmt = select(MEMBERSHIP.c.partner_id, MEMBERSHIP.c.segment).where(
        MEMBERSHIP.c.left_at.is_(None))
    for pid, seg in grouped_rows(conn, stmt, MEMBERSHIP.c.partner_id, ids):
        if pid in out:
            out[pid]["segments"].append(seg)
    for f in out.values():
        f["segments"].sort()


def _won(name: str, what: str) -> Fact:
    return Fact(name, "float", f"won deal amount, {what} (fiscal quarters)", 0.0)


BASE_FACTS = FactCatalogue((
    FactGroup((Fact("type", "str", "Partner_Type__c", None, "Reseller"),
               Fact("country", "str", "BillingCountry", None, "GB"),
               Fact("industry", "str", "Industry", None, "Technology")), _load_account,
              (TYPE_FIELDS[0], COUNTRY_FIELDS[0], INDUSTRY_FIELDS[0]), frozenset({"partner"})),
    FactGroup((Fact("tier", "str", "the partner's highest membership level (else its tier "
                                   "mirror)", "", "Registered"),
               Fact("tier_rank", "float", "that level's rank in the level table (0 without "
                                          "one)", 0.0, 1.0)), _load_tier, ("tier",),
              frozenset({"partner", "membership", "level"})),
    FactGroup((Fact("certifications", "int", "certifications completed", 0),
               Fact("certification_names", "list", "names of the certifications", [], [])),
              _load_certifications, reads=frozenset({"certification"})),
    FactGroup((_won("closed_won_this_quarter", "this quarter"),
               _won("closed_won_last_quarter", "last quarter"),
               _won("closed_won_two_quarters_ago", "the quarter before last"),
               _won("closed_won_three_quarters_ago", "three quarters ago"),
               _won("closed_won_trailing_4q", "the 4 quarters before this one")),
              _load_revenue, reads=frozenset({"deal"})),
    FactGroup((Fact("active_registrations", "int", "Submitted/Pending Review/Approved "
                                                   "registrations", 0),), _load_registrations,
              reads=frozenset({"deal_registration"})),
    FactGroup((Fact("points", "float", "points balance: the sum of the partner's ledger", 0.0,
                    1.0),), _load_points, ("points",), frozenset({"partner", LEDGER.name})),
    FactGroup((Fact("mdf_remaining", "float", "MDF allocated minus MDF approved", 0.0),),
              _load_mdf, reads=frozenset({"mdf_allocation", "mdf_request"})),
    FactGroup((Fact("segments", "list", "segments the partner is in (programs.yaml)", [],
                    ["sample"]),), _load_segments, reads=frozenset({MEMBERSHIP.name})),
))

# Partner columns every map holds (what the CLI and the segment preview show).
_BASE_COLUMNS = ("id", "sf_id", "name", "status")


def compute_facts(
    conn: Connection,
    env: FactEnv,
    partner_ids: Collection[int] | None = None,
    *,
    needed: Collection[str] | None = None,
    catalogue: FactCatalogue = BASE_FACTS,
) -> dict[int, dict[str, Any]]:
    """The ``partner`` map of each partner (every non-deleted one when ``partner_ids`` is
    None): its columns and the facts ``needed`` (None: every column and fact). One grouped
    query per group of facts asked for, in chunks of ids."""
    partner = entity_table("partner")
    columns = column_types("partner")
    wanted = None if needed is None else frozenset(needed)
    if wanted is None:
        fact_names = frozenset(catalogue.facts)
        cols = [n for n in columns if n not in catalogue.facts]
    else:
        fact_names = wanted & frozenset(catalogue.facts)
        cols = [n for n in columns if n in wanted and n not in catalogue.facts]
    cols = list(dict.fromkeys([*_BASE_COLUMNS, *cols]))
    groups = [g for g in catalogue.groups if not g.names.isdisjoint(fact_names)]
    # the partner columns the groups read, handed to them as ``_<column>``
    hidden = list(dict.fromkeys(c for g in groups for c in g.columns if c in columns))
    stmt = select(*(partner.c[n] for n in cols), *(partner.c[c] for c in hidden)).where(
        partner.c.is_deleted.is_(False))
    ids = None if partner_ids is None else sorted(set(partner_ids))
    defaults = [(f.name, f.default) for g in groups for f in g.facts]
    out: Facts = {}
    names = [*cols, *(f"_{c}" for c in hidden)]
    for row in grouped_rows(conn, stmt, partner.c.id, ids):
        f = dict(zip(names, row, strict=True))
        for k, v in defaults:
            f[k] = v.copy() if isinstance(v, (list, dict)) else v
        out[row[0]] = f
    if not out:
        return out
    only = None if ids is None else list(out)
    for g in groups:
        g.load(conn, out, only, env, fact_names)
    if hidden:
        keys = [f"_{c}" for c in hidden]
        for f in out.values():
            for k in keys:
                f.pop(k, None)
    return out


def points_balance(conn: Connection, partner_id: int) -> int:
    """A partner's ledger balance (the only place points are kept)."""
    stmt = select(func.coalesce(func.sum(LEDGER.c.points), 0)).where(
        LEDGER.c.partner_id == partner_id)
    return int(conn.execute(stmt).scalar() or 0)


class PartnerContext:
    """Partner maps for one batch: the fields and facts rules read, cached per partner.

    ``prefetch`` builds the maps of many partners in one grouped pass; ``get`` builds a
    missing one alone; ``invalidate`` forgets a partner a batch's own action changed (unless
    the action changed only entities these maps are not read from).
    """

    def __init__(
        self,
        conn: Connection,
        env: FactEnv,
        *,
        needed: Iterable[str] | None = None,
        catalogue: FactCatalogue = BASE_FACTS,
    ) -> None:
        self.conn = conn
        self.env = env
        self.catalogue = catalogue
        self.needed = None if needed is None else frozenset(needed)
        self.reads = catalogue.reads(self.needed)
        self._cache: dict[int, dict[str, Any] | None] = {}
        self.computed = 0  # how many partner maps were built (tests, metrics)

    def prefetch(self, partner_ids: Iterable[int]) -> None:
        """Build the maps of ``partner_ids`` not cached yet, together."""
        todo = {p for p in partner_ids if isinstance(p, int) and p not in self._cache}
        if not todo:
            return
        got = compute_facts(self.conn, self.env, todo, needed=self.needed,
                            catalogue=self.catalogue)
        for pid in todo:
            self._cache[pid] = got.get(pid)
        self.computed += len(got)

    def get(self, partner_id: int | None) -> dict[str, Any] | None:
        """The ``partner`` map for ``partner_id`` (None when the record has no partner)."""
        if partner_id is None:
            return None
        if partner_id not in self._cache:
            self.prefetch([partner_id])
        return self._cache.get(partner_id)

    def invalidate(self, partner_id: int | None,
                   changed: Collection[str] | None = None) -> None:
        """Forget ``partner_id``: an action of this batch changed rows of the entities
        ``changed`` (None: unknown) that its map may be read from."""
        if partner_id is None:
            return
        if changed is not None and self.reads is not None and self.reads.isdisjoint(changed):
            return
        self._cache.pop(partner_id, None)


def today_env(today: date, fiscal_year_start_month: int = 1) -> FactEnv:
    """A ``FactEnv`` for a day (callers that only know the date)."""
    return FactEnv(datetime.combine(today, datetime.min.time(), tzinfo=UTC),
                   fiscal_year_start_month)


__all__ += ["today_env"]
