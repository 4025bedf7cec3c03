"""The audit trail: every notable decision with its inputs, result, actions and outbox ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from connector.store.sqlutil import to_json_safe
from connector.store.trigger_log import TriggerDecision
from connector.store.types import utcnow

__all__ = ["AuditRow", "firings_by_day", "read_log", "rule_stats", "write_audit"]

DECISIONS: Table = TriggerDecision.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class AuditRow:
    """One decision to store."""

    trigger_id: str
    entity: str
    local_id: int | None
    sf_id: str | None
    change_seq: int | None
    outcome: str  # fired | not_fired | already_fired | dry_run | error
    stage: str
    reason: str
    branch: str | None = None
    firing_key: str | None = None
    inputs: dict[str, Any] | None = None
    actions: list[dict[str, Any]] | None = None
    outbox_ids: list[str] | None = None


def write_audit(
    conn: Connection, rows: Sequence[AuditRow], *, run_id: str | None, at: datetime | None = None
) -> int:
    """Insert ``rows`` in the caller's transaction; returns how many."""
    if not rows:
        return 0
    when = at or utcnow()
    conn.execute(insert(DECISIONS), [
        {
            "decided_at": when, "run_id": run_id, "trigger_id": r.trigger_id,
            "entity": r.entity, "local_id": r.local_id, "sf_id": r.sf_id,
            "change_seq": r.change_seq, "outcome": r.outcome, "branch": r.branch,
            "stage": r.stage, "reason": r.reason[:2000], "firing_key": r.firing_key,
            "inputs": to_json_safe(r.inputs) if r.inputs is not None else None,
            "actions": [to_json_safe(a) for a in r.actions] if r.actions else [],
            "outbox_ids": list(r.outbox_ids or []),
        }
        for r in rows
    ])
    return len(rows)


def read_log(
    conn: Connection, *, rule: str | None = None, record: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Newest decisions first; ``record`` matches a local id or a Salesforce id."""
    c = DECISIONS.c
    stmt = select(DECISIONS)
    if rule:
        stmt = stmt.where(c.trigger_id == rule)
    if record:
        cond = c.sf_id == record
        if record.isdigit():
            cond = cond | (c.local_id == int(record))
        stmt = stmt.where(cond)
    stmt = stmt.order_by(c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def rule_stats(conn: Connection) -> dict[str, dict[str, Any]]:
    """Per rule: decisions by outcome, and the last error (for ``status``)."""
    c = DECISIONS.c
    out: dict[str, dict[str, Any]] = {}
    stmt = select(c.trigger_id, c.outcome, func.count(), func.max(c.decided_at)).group_by(
        c.trigger_id, c.outcome
    )
    for rule, outcome, count, last in conn.execute(stmt):
        entry = out.setdefault(rule, {"fired": 0, "dry_run": 0, "error": 0, "not_fired": 0,
                                      "already_fired": 0, "last_at": None, "last_error": None})
        entry[outcome] = int(count)
        if entry["last_at"] is None or (last is not None and last > entry["last_at"]):
            entry["last_at"] = last
    for rule, entry in out.items():
        if entry["error"]:
            err = conn.execute(
                select(c.reason).where(c.trigger_id == rule, c.outcome == "error")
                .order_by(c.id.desc()).limit(1)
            ).scalar()
            entry["last_error"] = err
    return out


def firings_by_day(conn: Connection, rule: str, since: datetime) -> dict[str, int]:
    """How often ``rule`` fired on each day (UTC, ``YYYY-MM-DD``) since ``since``."""
    c = DECISIONS.c
    day = func.date(c.decided_at)
    stmt = (select(day, func.count())
            .where(c.trigger_id == rule, c.decided_at >= since, c.outcome == "fired")
            .group_by(day))
    return {str(d)[:10]: int(n) for d, n in conn.execute(stmt)}
