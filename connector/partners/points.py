"""The points ledger: the one place partner points are kept (``points`` is its sum).

``award_points`` adds a ledger row (once per award key) and brings the partner's balance
mirror (the ``points`` column, written to Partner_Points__c) up to the ledger; the rule
action ``award_points`` and a program step's points both go through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from connector.partners.facts import LEDGER, points_balance
from connector.store.models import entity_table
from connector.store.sqlutil import upsert_stmt

__all__ = ["Award", "award_points", "opening_balance", "points_balance"]


@dataclass(frozen=True)
class Award:
    """What an award did: whether it was new, the balance, and the mirror's change."""

    done: bool
    detail: str
    balance: int
    mirror: tuple[float | None, float] | None = None  # (old, new) of partner.points


def opening_balance(conn: Connection, partner: dict[str, Any], now: datetime) -> None:
    """Points a partner held before its first ledger row become the ledger's first row."""
    held = round(float(partner.get("points") or 0))
    if not held:
        return
    has = conn.execute(select(LEDGER.c.id).where(LEDGER.c.partner_id == partner["id"])
                       .limit(1)).first()
    if has is None:
        conn.execute(insert(LEDGER).values(
            partner_id=partner["id"], points=held, reason="opening balance",
            cause="partner.points before the ledger", award_key=f"opening|{partner['id']}",
            awarded_at=now))


def award_points(
    conn: Connection, partner: dict[str, Any], points: int, *, reason: str, cause: str,
    now: datetime, award_key: str | None = None, step: str | None = None,
) -> Award:
    """Add ``points`` to ``partner``'s ledger (once per ``award_key``) and mirror the
    balance onto its ``points`` column."""
    pid = partner["id"]
    opening_balance(conn, partner, now)
    values = dict(partner_id=pid, points=int(points), reason=reason, cause=cause,
                  step=step, award_key=award_key, awarded_at=now)
    if award_key is None:
        conn.execute(insert(LEDGER).values(**values))
    else:
        stmt = upsert_stmt(conn, LEDGER).values(**values).on_conflict_do_nothing(
            index_elements=["award_key"])
        if not conn.execute(stmt).rowcount:
            return Award(False, f"already awarded ({award_key})", points_balance(conn, pid))
    balance = points_balance(conn, pid)
    table = entity_table("partner")
    old = conn.execute(select(table.c.points).where(table.c.id == pid)).scalar()
    mirror = None
    if float(old or 0) != float(balance):
        conn.execute(update(table).where(table.c.id == pid).values(
            points=float(balance), updated_at=now))
        mirror = (old, float(balance))
    return Award(True, f"{int(points):+d} points ({reason}) -> {balance}", balance, mirror)
