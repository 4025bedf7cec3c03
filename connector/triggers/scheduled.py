"""Scheduled rules: a cron slot, then every record of the rule's entity, in batches.

The firing key of a scheduled decision is (rule, record, slot), the slot being the latest cron
time at or before now, so running a rule twice in one slot (a retry, the CLI after the daemon)
fires nothing twice; a missed slot run late fires once, for that slot.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from connector.errors import ConfigError, ConfigProblem
from connector.mapping.spec import MappingSpec
from connector.store.models import entity_table
from connector.store.types import utcnow
from connector.triggers.audit import DECISIONS
from connector.triggers.consumer import (
    BatchProcessor,
    Clock,
    TriggersReport,
    apply_pending,
)
from connector.triggers.engine import Change, Evaluator
from connector.triggers.spec import Rule, RuleSet

__all__ = [
    "last_slot",
    "preview_scheduled",
    "run_scheduled",
    "run_scheduled_rule",
    "scheduled_jobs",
]

_WINDOWS = (
    timedelta(hours=2), timedelta(days=2), timedelta(days=40), timedelta(days=400),
    timedelta(days=366 * 8),
)


def last_slot(schedule: str, now: datetime) -> datetime:
    """The latest time ``schedule`` (5-field cron, UTC) fired at or before ``now``."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(schedule, timezone=UTC)
    now = now.astimezone(UTC)
    for window in _WINDOWS:
        t = trigger.get_next_fire_time(None, now - window)
        if t is None or t > now:
            continue
        while True:
            nxt = trigger.get_next_fire_time(t, t + timedelta(seconds=1))
            if nxt is None or nxt > now:
                return t.astimezone(UTC)
            t = nxt
    return now.replace(second=0, microsecond=0)


def run_scheduled_rule(
    engine: Engine,
    spec: MappingSpec,
    rules: RuleSet,
    rule: Rule,
    clock: Clock = utcnow,
    *,
    slot: datetime | None = None,
    run_id: str | None = None,
    batch_size: int = 500,
    report: TriggersReport | None = None,
    within: Connection | None = None,
) -> TriggersReport:
    """Evaluate one scheduled ``rule`` over every live record of its entity (the daemon's job).

    Each batch commits on its own, or with ``within`` everything runs in that connection's
    transaction (the caller commits or rolls back: ``preview_scheduled``)."""
    report = report if report is not None else TriggersReport()
    run_id = run_id or uuid.uuid4().hex[:12]
    now = clock()
    if rule.schedule is None:
        raise ConfigError([ConfigProblem(rule.file, rule.line, 1,
                                         f"trigger '{rule.id}' has no schedule")])
    slot = slot or last_slot(rule.schedule, now)
    version = f"slot@{slot.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')}"
    evaluator = Evaluator([rule], now, rules.env.callables(), keep_all=False)
    table = entity_table(rule.entity)
    last = 0
    while True:
        batch: AbstractContextManager[Connection] = (
            nullcontext(within) if within is not None else engine.begin())
        with batch as conn:
            rows = conn.execute(
                select(table).where(table.c.id > last, table.c.is_deleted.is_(False))
                .order_by(table.c.id).limit(batch_size)
            ).mappings().all()
            if not rows:
                break
            last = rows[-1]["id"]
            proc = BatchProcessor(conn, spec, rules, evaluator, now, report, run_id=run_id)
            for row in rows:
                if row["sf_id"] and row["sf_modstamp"] is None:
                    continue  # a placeholder for a lookup target not loaded yet
                record = dict(row)
                report.changes += 1
                change = Change(rule.entity, "scheduled", row["id"], row["sf_id"], record,
                                None, version, None, "schedule")
                proc.process(change, [rule])
            proc.flush()
        report.batches += 1
    return report


def run_scheduled(
    engine: Engine,
    spec: MappingSpec,
    rules: RuleSet,
    clock: Clock = utcnow,
    *,
    rule_id: str | None = None,
    run_id: str | None = None,
) -> TriggersReport:
    """Run every enabled scheduled rule (or the one named) for its latest slot."""
    report = TriggersReport()
    todo = _todo(rules, rule_id)
    apply_pending(engine, spec, rules, clock(), report)
    for rule in todo:
        run_scheduled_rule(engine, spec, rules, rule, clock, run_id=run_id, report=report)
    return report


def _todo(rules: RuleSet, rule_id: str | None) -> list[Rule]:
    if rule_id is None:
        return rules.scheduled()
    rule = rules.get(rule_id)
    if rule is None or rule.schedule is None:
        known = ", ".join(r.id for r in rules.scheduled()) or "none"
        raise ConfigError([ConfigProblem("<command line>", 1, 1, (
            f"no scheduled trigger '{rule_id}' (scheduled: {known})"))])
    return [rule]


def preview_scheduled(
    engine: Engine,
    spec: MappingSpec,
    rules: RuleSet,
    clock: Clock = utcnow,
    *,
    rule_id: str | None = None,
) -> tuple[TriggersReport, list[dict[str, Any]]]:
    """What ``run_scheduled`` would do now, without doing it: the rules run as they would, in
    one transaction that is then rolled back, so the verdicts are the real ones (a tier review's
    "Platinum -> Gold: ...") and nothing is changed, queued, logged or claimed for the slot.
    Returns the report and the decisions the run would have logged, oldest first. Downgrades
    whose grace period is over are not included (they are not the rules' doing)."""
    report = TriggersReport()
    todo = _todo(rules, rule_id)
    run_id = f"preview-{uuid.uuid4().hex[:12]}"
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            for rule in todo:
                run_scheduled_rule(engine, spec, rules, rule, clock, run_id=run_id,
                                   report=report, within=conn)
            c = DECISIONS.c
            rows = conn.execute(select(DECISIONS).where(c.run_id == run_id)
                                .order_by(c.id)).mappings().all()
            decisions = [dict(r) for r in rows]
        finally:
            trans.rollback()
    return report, decisions


def scheduled_jobs(rules: RuleSet) -> list[tuple[str, str]]:
    """(rule id, cron) of every enabled scheduled rule: what the daemon puts on APScheduler."""
    return [(r.id, str(r.schedule)) for r in rules.scheduled()]
