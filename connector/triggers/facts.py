"""The ``partner`` variable: a partner's fields plus aggregates computed from the store.

Facts are registered by name in a ``FactRegistry``; the engine only sees the resulting map, so
new facts (segments, tracks, type, country) plug in with ``PARTNER_FACTS.register(...)`` and no
change to the engine or the loader (which type-checks ``partner.<name>`` against the registry).
``PartnerContext`` computes only the facts some rule reads, caches them for one batch, and
forgets a partner when the batch's own effects change it (``invalidate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from connector.store.models import column_types, entity_table
from connector.triggers.fiscal import Quarter, quarter_of

__all__ = [
    "ACTIVE_REGISTRATION_STATUSES",
    "PARTNER_FACTS",
    "Fact",
    "FactEnv",
    "FactRegistry",
    "PartnerContext",
]

ACTIVE_REGISTRATION_STATUSES = ("Submitted", "Pending Review", "Approved")


@dataclass(frozen=True)
class FactEnv:
    """What facts are computed against: the clock and the fiscal calendar."""

    now: datetime
    fiscal_year_start_month: int = 1

    @property
    def quarter(self) -> Quarter:
        """The current fiscal quarter."""
        return quarter_of(self.now.date(), self.fiscal_year_start_month)


FactFn = Callable[[Connection, int, FactEnv], Any]


@dataclass(frozen=True)
class Fact:
    """One named partner fact: its local type (for load-time checks) and how to compute it."""

    name: str
    type: str
    compute: FactFn
    description: str = ""
    sample: Any = None  # the load-time probe's value when the type's stand-in will not do


@dataclass
class FactRegistry:
    """Partner facts by name."""

    facts: dict[str, Fact] = field(default_factory=dict)
    # CEL functions rules may call, e.g. partner.certifications_in('cloud') (receiver first)
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # segment names a rule's ``segment:`` may watch (programs.yaml's); None: not checked
    segments: frozenset[str] | None = None

    def register(
        self, name: str, type_: str, description: str = "", *, sample: Any = None
    ) -> Callable[[FactFn], FactFn]:
        """Decorator: register ``fn(conn, partner_id, env) -> value`` as fact ``name``."""

        def wrap(fn: FactFn) -> FactFn:
            self.facts[name] = Fact(name, type_, fn, description, sample)
            return fn

        return wrap

    def samples(self) -> dict[str, Any]:
        """Fact name -> its probe sample, for facts that give one."""
        return {n: f.sample for n, f in self.facts.items() if f.sample is not None}

    def types(self) -> dict[str, str]:
        """Fact name -> local type name."""
        return {n: f.type for n, f in self.facts.items()}


PARTNER_FACTS = FactRegistry()


def _scalar(conn: Connection, stmt: Any) -> Any:
    return conn.execute(stmt).scalar()


def _won_between(conn: Connection, partner_id: int, start: date, end: date) -> float:
    deal = entity_table("deal")
    stmt = select(func.coalesce(func.sum(deal.c.amount), 0.0)).where(
        deal.c.partner == partner_id,
        deal.c.is_won.is_(True),
        deal.c.is_deleted.is_(False),
        deal.c.close_date >= start,
        deal.c.close_date < end,
    )
    return float(_scalar(conn, stmt) or 0.0)


def _level(conn: Connection, partner_id: int) -> tuple[str | None, float]:
    member, level = entity_table("membership"), entity_table("level")
    stmt = (
        select(level.c.name, level.c.rank)
        .select_from(member.join(level, level.c.id == member.c.level))
        .where(member.c.partner == partner_id, member.c.is_deleted.is_(False))
        .order_by(level.c.rank.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None, 0.0
    return row[0], float(row[1] or 0.0)


@PARTNER_FACTS.register("status", "str", "Partner_Status__c")
def _status(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    partner = entity_table("partner")
    return _scalar(conn, select(partner.c.status).where(partner.c.id == partner_id))


@PARTNER_FACTS.register("tier", "str", "the level name of the partner's program membership")
def _tier(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    name, _ = _level(conn, partner_id)
    if name is None:
        partner = entity_table("partner")
        name = _scalar(conn, select(partner.c.tier).where(partner.c.id == partner_id))
    return name or ""


@PARTNER_FACTS.register("tier_rank", "float", "the rank of that level (0 without one)")
def _tier_rank(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    return _level(conn, partner_id)[1]


@PARTNER_FACTS.register("certifications", "int", "certifications completed")
def _certifications(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    cert = entity_table("certification")
    stmt = select(func.count()).where(cert.c.partner == partner_id, cert.c.is_deleted.is_(False))
    return int(_scalar(conn, stmt) or 0)


@PARTNER_FACTS.register("closed_won_this_quarter", "float", "won deal amount, this quarter")
def _won_this(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    q = env.quarter
    return _won_between(conn, partner_id, q.start, q.end)


@PARTNER_FACTS.register("closed_won_last_quarter", "float", "won deal amount, last quarter")
def _won_last(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    q = env.quarter.shift(-1)
    return _won_between(conn, partner_id, q.start, q.end)


@PARTNER_FACTS.register(
    "closed_won_two_quarters_ago", "float", "won deal amount, the quarter before last"
)
def _won_two_ago(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    q = env.quarter.shift(-2)
    return _won_between(conn, partner_id, q.start, q.end)


@PARTNER_FACTS.register(
    "closed_won_three_quarters_ago", "float", "won deal amount, three quarters ago"
)
def _won_three_ago(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    q = env.quarter.shift(-3)
    return _won_between(conn, partner_id, q.start, q.end)


@PARTNER_FACTS.register("closed_won_trailing_4q", "float", "won deal amount, last 4 quarters")
def _won_trailing(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    q = env.quarter
    return _won_between(conn, partner_id, q.shift(-4).start, q.start)


@PARTNER_FACTS.register("active_registrations", "int", "Submitted/Pending Review/Approved")
def _active_regs(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    reg = entity_table("deal_registration")
    stmt = select(func.count()).where(
        reg.c.partner == partner_id,
        reg.c.is_deleted.is_(False),
        reg.c.status.in_(ACTIVE_REGISTRATION_STATUSES),
    )
    return int(_scalar(conn, stmt) or 0)


@PARTNER_FACTS.register("points", "float", "the partner's points balance")
def _points(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    partner = entity_table("partner")
    return float(_scalar(conn, select(partner.c.points).where(partner.c.id == partner_id)) or 0)


@PARTNER_FACTS.register("mdf_remaining", "float", "MDF allocated minus MDF approved")
def _mdf_remaining(conn: Connection, partner_id: int, env: FactEnv) -> Any:
    alloc, req = entity_table("mdf_allocation"), entity_table("mdf_request")
    allocated = _scalar(
        conn,
        select(func.coalesce(func.sum(alloc.c.amount), 0.0)).where(
            alloc.c.partner == partner_id, alloc.c.is_deleted.is_(False)
        ),
    )
    spent = _scalar(
        conn,
        select(func.coalesce(func.sum(func.coalesce(req.c.amount, req.c.requested_amount)), 0.0))
        .where(
            and_(
                req.c.partner == partner_id,
                req.c.is_deleted.is_(False),
                req.c.status == "Approved",
            )
        ),
    )
    return float(allocated or 0.0) - float(spent or 0.0)


class PartnerContext:
    """Partner maps for one batch: fields plus the facts rules read, cached per partner."""

    def __init__(
        self,
        conn: Connection,
        env: FactEnv,
        *,
        needed: Iterable[str] | None = None,
        registry: FactRegistry = PARTNER_FACTS,
    ) -> None:
        self.conn = conn
        self.env = env
        self.registry = registry
        fields = set(column_types("partner"))
        wanted = set(needed) if needed is not None else fields | set(registry.facts)
        self.facts = sorted(n for n in wanted if n in registry.facts)
        self.fields = sorted(n for n in wanted if n in fields and n not in registry.facts)
        self._cache: dict[int, dict[str, Any]] = {}
        self.computed = 0  # how many partner maps were built (tests, metrics)

    def get(self, partner_id: int | None) -> dict[str, Any] | None:
        """The ``partner`` map for ``partner_id`` (None when the record has no partner)."""
        if partner_id is None:
            return None
        cached = self._cache.get(partner_id)
        if cached is not None:
            return cached
        values: dict[str, Any] = {"id": partner_id}
        if self.fields:
            partner = entity_table("partner")
            row = self.conn.execute(
                select(*(partner.c[n] for n in self.fields)).where(partner.c.id == partner_id)
            ).first()
            if row is None:
                return None
            values.update(zip(self.fields, row, strict=True))
        for name in self.facts:
            values[name] = self.registry.facts[name].compute(self.conn, partner_id, self.env)
        self._cache[partner_id] = values
        self.computed += 1
        return values

    def invalidate(self, partner_id: int | None) -> None:
        """Forget ``partner_id``: an action of this batch changed something its facts read."""
        if partner_id is not None:
            self._cache.pop(partner_id, None)
