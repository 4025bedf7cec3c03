"""Deal registration conflicts: another partner already holds the same end customer.

The same customer means the company names are equal after normalising case, punctuation,
whitespace and legal suffixes, or the email/web domains are equal. Only registrations of other
partners that are Submitted, Pending Review or Approved, and received inside the protection
window before this one, count: the first registration received wins.

The candidates are found through the normalised keys stored with every registration
(``connector.store.customer``, indexed): a decision costs two index lookups, however many
registrations the store holds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, or_, select

from connector.partners.facts import ACTIVE_REGISTRATION_STATUSES
from connector.store.customer import LEGAL_SUFFIXES, normalise_company, normalise_domain
from connector.store.models import entity_table

__all__ = [
    "LEGAL_SUFFIXES",
    "Conflict",
    "find_conflict",
    "normalise_company",
    "normalise_domain",
    "same_customer",
]


def same_customer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two registrations name the same end customer (by name or by domain)."""
    na, nb = normalise_company(a.get("end_customer_name")), normalise_company(
        b.get("end_customer_name")
    )
    if na and na == nb:
        return True
    da, db = normalise_domain(a.get("end_customer_domain")), normalise_domain(
        b.get("end_customer_domain")
    )
    return bool(da) and da == db


@dataclass(frozen=True)
class Conflict:
    """The registration that got there first."""

    local_id: int
    name: str | None
    partner: int | None
    registered_date: date | None

    def describe(self) -> str:
        """For the conflicting registration's reason."""
        when = f" registered {self.registered_date.isoformat()}" if self.registered_date else ""
        return f"conflicts with registration {self.name or self.local_id}{when}"


def _received(row: dict[str, Any]) -> tuple[date, int]:
    day = row.get("registered_date")
    if isinstance(day, datetime):
        day = day.date()
    if not isinstance(day, date):
        created = row.get("created_at")
        day = created.date() if isinstance(created, datetime) else date.min
    return (day, int(row.get("id") or 0))


def find_conflict(
    conn: Connection, registration: dict[str, Any], *, window_days: int = 90
) -> Conflict | None:
    """The earlier registration of another partner for the same customer, if there is one."""
    if not (registration.get("end_customer_name") or registration.get("end_customer_domain")):
        return None
    mine = _received(registration)
    since = mine[0] - timedelta(days=window_days) if mine[0] != date.min else date.min
    params = {
        "me": registration.get("id") or 0,
        "since": since,
        # no partner: every other registration counts (no local id is negative)
        "partner": registration["partner"] if registration.get("partner") is not None else -1,
    }
    name = normalise_company(registration.get("end_customer_name"))
    domain = normalise_domain(registration.get("end_customer_domain"))
    if not (name or domain):
        return None
    best: dict[str, Any] | None = None
    # either key matched: the same customer (keys are derived by the one normaliser); both
    # keys in one statement, each through its own index
    stmt = _candidates(bool(name), bool(domain))
    for row in conn.execute(stmt, {**params, "name": name, "domain": domain}).mappings():
        other = dict(row)
        when = _received(other)
        if not (since <= when[0] and when < mine):
            continue
        if best is None or when < _received(best):
            best = other
    if best is None:
        return None
    return Conflict(best["id"], best.get("name"), best.get("partner"), _received(best)[0])


@functools.cache
def _candidates(by_name: bool, by_domain: bool) -> Select[Any]:
    """Active registrations of other partners with the customer name key ``:name`` or the
    domain key ``:domain``, received since ``:since`` (built once: a decision only binds
    values)."""
    reg = entity_table("deal_registration")
    keys = []
    if by_name:
        keys.append(reg.c.customer_name_key == bindparam("name"))
    if by_domain:
        keys.append(reg.c.customer_domain_key == bindparam("domain"))
    return select(
        reg.c.id, reg.c.name, reg.c.partner, reg.c.registered_date, reg.c.created_at
    ).where(
        or_(*keys),
        reg.c.is_deleted.is_(False),
        reg.c.status.in_(ACTIVE_REGISTRATION_STATUSES),
        reg.c.id != bindparam("me"),
        (reg.c.registered_date >= bindparam("since")) | reg.c.registered_date.is_(None),
        (reg.c.partner != bindparam("partner")) | reg.c.partner.is_(None),
    )
