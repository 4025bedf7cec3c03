"""Deal registration conflicts: another partner already holds the same end customer.

The same customer means the company names are equal after normalising case, punctuation,
whitespace and legal suffixes, or the email/web domains are equal. Only registrations of other
partners that are Submitted, Pending Review or Approved, and received inside the protection
window before this one, count: the first registration received wins.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from connector.partners.facts import ACTIVE_REGISTRATION_STATUSES
from connector.store.models import entity_table

__all__ = [
    "LEGAL_SUFFIXES",
    "Conflict",
    "find_conflict",
    "normalise_company",
    "normalise_domain",
    "same_customer",
]

LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "llp", "lp", "ltd",
    "limited", "plc", "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy",
    "ab", "as", "aps", "pty", "pte", "kk", "sl",
})
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise_company(name: str | None) -> str:
    """``"ACME, Inc."`` -> ``"acme"``: lower case, no accents/punctuation/legal suffixes."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    # "B.V." and "S.A." are one word each: dots join, other punctuation separates
    text = text.replace("&", " and ").replace(".", "")
    words = _SPACE.sub(" ", _NON_WORD.sub(" ", text)).strip().split(" ")
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(w for w in words if w)


def normalise_domain(value: str | None) -> str:
    """``"https://www.Acme.com/x"`` or ``"jane@acme.com"`` -> ``"acme.com"``."""
    if not value:
        return ""
    text = value.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    if text.startswith("www."):
        text = text[4:]
    return text.strip(".")


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
    reg = entity_table("deal_registration")
    mine = _received(registration)
    since = mine[0] - timedelta(days=window_days) if mine[0] != date.min else date.min
    stmt = select(reg).where(
        reg.c.is_deleted.is_(False),
        reg.c.status.in_(ACTIVE_REGISTRATION_STATUSES),
        reg.c.id != (registration.get("id") or 0),
    )
    if since != date.min:
        stmt = stmt.where((reg.c.registered_date >= since) | reg.c.registered_date.is_(None))
    if registration.get("partner") is not None:
        stmt = stmt.where((reg.c.partner != registration["partner"]) | reg.c.partner.is_(None))
    best: dict[str, Any] | None = None
    for row in conn.execute(stmt).mappings():
        other = dict(row)
        when = _received(other)
        if not (since <= when[0] and when < mine):
            continue
        if same_customer(registration, other) and (best is None or when < _received(best)):
            best = other
    if best is None:
        return None
    return Conflict(best["id"], best.get("name"), best.get("partner"), _received(best)[0])
