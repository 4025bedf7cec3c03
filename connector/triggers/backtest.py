"""Dry evaluation: a rule on one record (``triggers test``) and over history (``replay``).

Both decide exactly as the consumer does but act on nothing: they run in a transaction that is
rolled back. Partner facts and conflicts are read from the store as it is now.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from connector.errors import ConfigError, ConfigProblem
from connector.mapping.spec import MappingSpec
from connector.partners.facts import FactEnv, PartnerContext
from connector.store.bookkeeping import ChangeLog
from connector.store.sqlutil import from_json_safe
from connector.store.stream import read_changes
from connector.store.types import utcnow
from connector.triggers.consumer import BatchProcessor, Clock, TriggersReport, typed_change
from connector.triggers.engine import Change, Decision, Evaluator, Facts
from connector.triggers.spec import Rule, RuleSet

__all__ = ["backtest", "only_rule", "try_record"]


def only_rule(rules: RuleSet, rule_id: str | None) -> RuleSet:
    """``rules`` narrowed to ``rule_id`` (all of them when None); unknown ids are bad input."""
    if rule_id is None:
        return rules
    rule = rules.get(rule_id)
    if rule is None:
        known = ", ".join(r.id for r in rules.rules) or "none"
        raise ConfigError([ConfigProblem("<command line>", 1, 1,
                                         f"unknown trigger '{rule_id}' (known: {known})")])
    return replace(rules, rules=[rule])


def backtest(
    engine: Engine,
    spec: MappingSpec,
    rules: RuleSet,
    since: datetime,
    *,
    rule_id: str | None = None,
    clock: Clock = utcnow,
    limit: int = 100_000,
) -> list[Decision]:
    """What ``rules`` would decide on every change recorded since ``since`` (acts on nothing)."""
    chosen = only_rule(rules, rule_id)
    now = clock()
    evaluator = Evaluator(chosen.rules, now, rules.env.callables())
    decisions: list[Decision] = []
    c = ChangeLog.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            first = conn.execute(select(func.min(c.id)).where(c.recorded_at >= since)).scalar()
            after = int(first) - 1 if first is not None else None
            report = TriggersReport()
            while after is not None and len(decisions) < limit:
                events = read_changes(conn, "triggers-backtest", after=after, limit=1000)
                if not events:
                    break
                after = events[-1].seq
                proc = BatchProcessor(conn, spec, chosen, evaluator, now, report, apply=False)
                for event in events:
                    if event.echo or event.entity not in spec.entities:
                        continue
                    rules_for = proc.by_entity.get(event.entity)
                    if rules_for:
                        decisions += proc.process(typed_change(spec, event))
        finally:
            trans.rollback()
    return decisions


def _typed(spec: MappingSpec, entity: str, values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    ent = spec.entities[entity]
    types = {f.local: f.local_type for f in ent.fields.values() if not f.lookup}
    out = from_json_safe(values, types)
    for name, kind in types.items():  # a file's 1000 is the float field's 1000.0
        if kind == "float" and isinstance(out.get(name), int) and not isinstance(
                out[name], bool):
            out[name] = float(out[name])
    return out


def try_record(
    spec: MappingSpec,
    rules: RuleSet,
    rule_id: str,
    record: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    conn: Connection | None = None,
    partner: dict[str, Any] | None = None,
    conflict: bool | None = None,
    now: datetime | None = None,
) -> Decision:
    """``rule_id``'s decision on ``record`` (and ``old``), changing nothing.

    Partner facts come from the store through ``conn`` when the record names a partner there,
    overlaid with ``partner``; the conflict is looked up the same way unless given.
    """
    rule: Rule = only_rule(rules, rule_id).rules[0]
    now = now or utcnow()
    new = _typed(spec, rule.entity, record) or {}
    before = _typed(spec, rule.entity, old)
    op = "scheduled" if rule.scheduled else "updated" if before is not None else "created"
    change = Change(rule.entity, op, new.get("id"), new.get("sf_id"), new, before, "test")
    facts_partner: dict[str, Any] = {}
    pid = new.get("id") if rule.entity == "partner" else new.get("partner")
    if conn is not None and isinstance(pid, int):
        ctx = PartnerContext(conn, FactEnv(now, rules.settings.fiscal_year_start_month),
                             catalogue=rules.env.catalogue)
        facts_partner.update(ctx.get(pid) or {})
    facts_partner.update(partner or {})
    note = None
    if conflict is None:
        conflict = False
        if conn is not None and rule.entity == "deal_registration":
            from connector.triggers.conflict import find_conflict

            found = find_conflict(conn, new,
                                  window_days=rules.settings.protection_window_days)
            conflict, note = found is not None, found.describe() if found else None
    facts = Facts(facts_partner or None, conflict, note)
    return Evaluator([rule], now, rules.env.callables()).decide_one(rule, change, facts)
