"""The triggers consumer: reads the change log, decides, acts, commits all of it at once.

One transaction per batch holds the firings, the local effects, the outbox items, the audit
rows and the consumer offset (invariant 2): a crash anywhere before the commit replays the
batch, and the unique firing keys make sure a replayed batch never fires twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, update

from connector.errors import ConnectorError
from connector.mapping.spec import MappingSpec
from connector.outbox.items import enqueue
from connector.partners.facts import FactEnv, PartnerContext
from connector.store.bookkeeping import TriggerFiring
from connector.store.sqlutil import from_json_safe, to_json_safe, upsert_stmt
from connector.store.stream import (
    ChangeBatch,
    ChangeEvent,
    ChangeFilter,
    consume,
    count_changes,
)
from connector.store.types import utcnow
from connector.triggers.actions import (
    BUILTIN_ACTIONS,
    ActionEnv,
    ActionFailed,
    apply_due_pending,
    run_action,
)
from connector.triggers.audit import AuditRow, write_audit
from connector.triggers.conflict import find_conflict
from connector.triggers.engine import (
    REGISTRATION_DECISIONS,
    Change,
    Decision,
    Evaluator,
    Facts,
    referenced_fields,
)
from connector.triggers.spec import Rule, RuleSet

__all__ = [
    "CONSUMER",
    "BatchProcessor",
    "Clock",
    "TriggersReport",
    "apply_pending",
    "decisions_json",
    "run_triggers",
    "typed_change",
]

CONSUMER = "triggers"
FIRING: Table = TriggerFiring.__table__  # type: ignore[attr-defined]
Clock = Callable[[], datetime]
# a firing's result, once its actions ran (built once: each decision only binds values)
_FIRING_RESULT = update(FIRING).where(FIRING.c.key == bindparam("firing_key"))


@dataclass
class TriggersReport:
    """What a triggers run did, for the sync report and ``status``."""

    changes: int = 0
    echoes: int = 0
    evaluations: int = 0
    fired: int = 0
    dry_run: int = 0
    already_fired: int = 0
    errors: int = 0
    outbox: int = 0
    batches: int = 0
    downgrades: int = 0

    def counts(self) -> dict[str, int]:
        """The counts as a dict (the Stage protocol's report)."""
        return asdict(self)


def _types(spec: MappingSpec, entity: str) -> dict[str, str]:
    ent = spec.entities.get(entity)
    if ent is None:
        return {}
    return {f.local: ("lookup" if f.lookup else f.local_type) for f in ent.fields.values()}


def typed_change(spec: MappingSpec, event: ChangeEvent) -> Change:
    """A change-log entry with its values typed again (dates as dates) and its version."""
    types = _types(spec, event.entity)

    def typed(values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None:
            return None
        out = from_json_safe(values, types)
        out["id"] = event.local_id
        out["sf_id"] = event.sf_id
        return out

    stamp = event.modstamp.isoformat() if event.modstamp else f"seq{event.seq}"
    return Change(event.entity, event.op, event.local_id, event.sf_id, typed(event.new),
                  typed(event.old), f"{event.op}@{stamp}", event.seq, event.source)


class BatchProcessor:
    """Decides and (unless ``apply`` is False) acts on changes inside one transaction."""

    def __init__(
        self,
        conn: Connection,
        spec: MappingSpec,
        rules: RuleSet,
        evaluator: Evaluator,
        now: datetime,
        report: TriggersReport,
        *,
        run_id: str | None = None,
        apply: bool = True,
    ) -> None:
        self.conn = conn
        self.spec = spec
        self.rules = rules
        self.evaluator = evaluator
        self.now = now
        self.report = report
        self.run_id = run_id
        self.apply = apply
        self.fact_env = FactEnv(now, rules.settings.fiscal_year_start_month)
        # one context per set of partner names read: a change's map holds the facts its
        # entity's rules read, and only those are computed
        self.partner_maps: dict[frozenset[str], PartnerContext] = {}
        self.actions = {**BUILTIN_ACTIONS, **rules.env.actions}
        self.by_entity = {e: rules.for_entity(e) for e in rules.entities()}
        self._needs: dict[tuple[str, ...], tuple[PartnerContext | None, bool]] = {}
        self._claim_stmt: Any = None
        self.audit: list[AuditRow] = []
        self.decisions: list[Decision] = []

    def _needed(self, entity: str, rules: list[Rule]) -> tuple[PartnerContext | None, bool]:
        """The partner maps ``rules`` read (None: they do not read ``partner``), and whether
        they read the registration conflict. The maps hold what every rule of ``entity``
        reads, so a batch builds one map per partner and entity."""
        key = (entity, *(r.id for r in rules))
        if key not in self._needs:
            exprs = [x for r in rules for x in r.expressions()]
            conflict = any("conflict" in x.variables for x in exprs) or any(
                a.name in REGISTRATION_DECISIONS for r in rules
                for a in (*r.actions, *r.otherwise))  # the note in the reason
            context = None
            if any("partner" in x.variables for x in exprs):
                every = self.by_entity.get(entity) or []
                ids = {r.id for r in every}
                names = referenced_fields([*every, *(r for r in rules if r.id not in ids)],
                                          self.rules.env.function_reads)["partner"]
                context = self.partner_maps.get(names)
                if context is None:
                    context = self.partner_maps[names] = PartnerContext(
                        self.conn, self.fact_env, needed=names,
                        catalogue=self.rules.env.catalogue)
            self._needs[key] = (context, conflict)
        return self._needs[key]

    @staticmethod
    def _partner_id(change: Change) -> int | None:
        record = change.new if change.new is not None else change.old or {}
        pid = change.local_id if change.entity == "partner" else record.get("partner")
        return pid if isinstance(pid, int) else None

    def prefetch(self, changes: Iterable[Change]) -> None:
        """Build the partner maps of ``changes`` together (grouped queries, not one per
        partner), for the changes whose rules read ``partner``."""
        todo: dict[int, tuple[PartnerContext, list[int]]] = {}
        for change in changes:
            context = self._needed(change.entity, self.by_entity.get(change.entity) or [])[0]
            pid = self._partner_id(change)
            if context is not None and pid is not None:
                todo.setdefault(id(context), (context, []))[1].append(pid)
        for context, pids in todo.values():
            context.prefetch(pids)

    def facts(self, change: Change, rules: list[Rule] | None = None) -> Facts:
        """The partner map and conflict for ``change``, as far as ``rules`` read them."""
        context, conflict_needed = self._needed(
            change.entity, rules if rules is not None else self.by_entity.get(change.entity) or [])
        partner = None
        if context is not None:
            partner = context.get(self._partner_id(change))
        conflict = None
        if conflict_needed and change.entity == "deal_registration" and change.new is not None:
            conflict = find_conflict(self.conn, dict(change.new),
                                     window_days=self.rules.settings.protection_window_days)
        return Facts(partner, conflict is not None,
                     conflict.describe() if conflict is not None else None)

    def process(self, change: Change, rules: list[Rule] | None = None) -> list[Decision]:
        """Evaluate ``rules`` (default: those of ``change``'s entity) and settle each decision."""
        if rules is None:
            rules = self.by_entity.get(change.entity) or []
        if change.op != "scheduled":
            # Only rules watching this event from this source: a backfill of 100,000 rows that
            # no rule opts into costs no partner facts at all.
            rules = [r for r in rules if change.op in r.on and change.source in r.sources]
        if not rules:
            return []
        before = self.evaluator.evaluations
        decisions = self.evaluator.decide(rules, change, self.facts(change, rules))
        self.report.evaluations += self.evaluator.evaluations - before
        for d in decisions:
            self.decisions.append(d)
            if self.apply:
                self._settle(d)
        return decisions

    def _claim(self, key: str, d: Decision) -> bool:
        if self._claim_stmt is None:  # built once per batch: each claim only binds values
            self._claim_stmt = upsert_stmt(self.conn, FIRING).on_conflict_do_nothing(
                index_elements=["key"]).returning(FIRING.c.id)
        # RETURNING, not rowcount: psycopg's rowcount was not 0 for a skipped conflict here
        return self.conn.execute(self._claim_stmt, {
            "key": key, "trigger_id": d.rule.id, "entity": d.change.entity,
            "local_id": d.change.local_id, "fired_at": self.now, "result": {"branch": d.branch},
        }).first() is not None

    def _row(self, d: Decision, outcome: str, reason: str | None = None, **kw: Any) -> None:
        c = d.change
        self.audit.append(AuditRow(
            d.rule.id, c.entity, c.local_id, c.sf_id, c.seq, outcome, d.rule.stage,
            reason or d.reason, d.branch, d.key, d.inputs, **kw))

    def _settle(self, d: Decision) -> None:
        if d.outcome == "error":
            self.report.errors += 1
            self._row(d, "error")
            return
        if d.outcome != "fire":
            if d.notable:
                self._row(d, "not_fired")
            return
        planned = [{"action": a.name, "params": a.params} for a in d.actions]
        if d.rule.stage == "dry_run":
            if self._claim(f"dry_run|{d.key}", d):
                self.report.dry_run += 1
                self._row(d, "dry_run", actions=planned)
            return
        savepoint = self.conn.begin_nested()
        try:
            if not self._claim(d.key, d):
                savepoint.rollback()
                self.report.already_fired += 1
                self._row(d, "already_fired", "this rule already fired for this version")
                return
            results, ids = self._act(d)
            self.conn.execute(_FIRING_RESULT, {"firing_key": d.key, "result": {
                "branch": d.branch, "actions": [r.summary() for r in results],
                "outbox_ids": ids}})
            savepoint.commit()
        except (ActionFailed, ConnectorError, ValueError, KeyError, TypeError) as err:
            savepoint.rollback()
            self.report.errors += 1
            self._row(d, "error", f"action failed: {err}", actions=planned)
            return
        self.report.fired += 1
        self.report.outbox += len(ids)
        self._row(d, "fired", actions=[r.summary() for r in results], outbox_ids=ids)

    def _act(self, d: Decision) -> tuple[list[Any], list[str]]:
        c = d.change
        record = dict(c.new if c.new is not None else c.old or {})
        env = ActionEnv(self.conn, self.spec, self.rules.settings, self.now, d.rule.id,
                        c.entity, c.local_id, c.sf_id, record, d.key)
        results, ids = [], []
        for action in d.actions:
            result = run_action(env, action, self.actions)
            results.append(result)
            if result.writes:
                ids += enqueue(self.conn, result.writes)
            if result.partner_changed:
                for context in self.partner_maps.values():
                    context.invalidate(env.partner_id, result.changed)
        return results, ids

    def flush(self) -> None:
        """Write the batch's audit rows (same transaction)."""
        write_audit(self.conn, self.audit, run_id=self.run_id, at=self.now)
        self.audit = []


def apply_pending(
    engine: Engine, spec: MappingSpec, rules: RuleSet, now: datetime, report: TriggersReport,
) -> None:
    """Carry out the tier downgrades whose grace period is over, in their own transaction."""
    with engine.begin() as conn:
        results = apply_due_pending(conn, spec, rules.settings, now)
        rows = []
        for rule_id, partner, r in results:
            ids = enqueue(conn, r.writes) if r.writes else []
            report.outbox += len(ids)
            rows.append(AuditRow(rule_id or "set_tier", "partner", partner["id"],
                                 partner.get("sf_id"), None, "fired", "live", r.detail,
                                 actions=[r.summary()], outbox_ids=ids))
        report.downgrades += len(results)
        write_audit(conn, rows, run_id=None, at=now)


def run_triggers(
    engine: Engine,
    spec: MappingSpec,
    rules: RuleSet,
    clock: Clock = utcnow,
    *,
    run_id: str | None = None,
    batch_size: int = 500,
    before_commit: Callable[[Connection, list[ChangeEvent]], None] | None = None,
) -> TriggersReport:
    """Consume the change log from the ``triggers`` offset to its end, batch by batch.

    ``before_commit`` runs after a batch is settled and before it commits (crash tests).
    """
    run_id = run_id or uuid.uuid4().hex[:12]
    report = TriggersReport()
    now = clock()
    apply_pending(engine, spec, rules, now, report)
    evaluator = Evaluator(rules.rules, now, rules.env.callables(), keep_all=False)
    # Only the entries some rule watches are read (entity, event and source, in SQL): a
    # backfill no rule opts into is skipped in the range the offset moves past.
    live = [r for r in rules.rules if r.enabled and not r.scheduled]
    watched = rules.entities() & set(spec.entities)
    ops = {op for r in live for op in r.on}
    sources = {s for r in live for s in r.sources}
    def handle(conn: Connection, batch: ChangeBatch) -> None:
        examined, echoes = count_changes(conn, batch.start, batch.upto)
        report.changes += examined
        report.echoes += echoes
        if batch.events:
            proc = BatchProcessor(conn, spec, rules, evaluator, now, report, run_id=run_id)
            changes = [typed_change(spec, event) for event in batch.events]
            proc.prefetch(changes)
            for change in changes:
                proc.process(change)
            proc.flush()
        if before_commit is not None:
            before_commit(conn, batch.events)

    report.batches += consume(engine, CONSUMER, ChangeFilter(
        entities=watched, ops=ops, sources=sources, echo=False, limit=batch_size), handle)
    return report


def decisions_json(decisions: Iterable[Decision]) -> list[dict[str, Any]]:
    """Decisions as JSON-ready dicts (``triggers test`` / ``replay``)."""
    out = []
    for d in decisions:
        out.append({
            "rule": d.rule.id, "entity": d.change.entity, "local_id": d.change.local_id,
            "sf_id": d.change.sf_id, "seq": d.change.seq, "op": d.change.op,
            "outcome": d.outcome, "branch": d.branch, "reason": d.reason,
            "stage": d.rule.stage, "firing_key": d.key,
            "actions": [{"action": a.name, "params": to_json_safe(a.params)}
                        for a in d.actions],
            "inputs": {k: (to_json_safe(v) if isinstance(v, dict) else v)
                       for k, v in d.inputs.items()},
        })
    return out
