"""The programs step of a sync cycle: the change log's consumer "programs".

For each batch, in one transaction with its offset (invariant 2): a certification recorded in
Salesforce completes the matching certification steps; every partner a change touches gets its
segments recomputed (entries and exits are logged as ``segment_entered``/``segment_left``
partner entries, which triggers watch) and its ladder applied upwards only: an upgrade lands at
once, a downgrade waits for the quarterly tier review (the ``review_tier`` action of the
built-in ``quarterly-tier-review`` rule); then what the partner portal reads is brought up to
date (``portal.refresh_portal``: the Account's segments and the partner's eligibility
records). Writes to Salesforce are queued in the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, case, select

from connector.mapping.spec import MappingSpec
from connector.outbox.items import OutboxWrite, enqueue
from connector.partners.actions import ActionEnv, ActionFailed, RuleSettings
from connector.partners.facts import level_ranks
from connector.partners.tiers import set_level_now
from connector.pipeline import StageContext
from connector.programs.evaluate import tier_for
from connector.programs.facts import facts_for_partners
from connector.programs.local import segment_diffs
from connector.programs.operations import (
    complete_step,
    ladder_program,
    refresh_segments,
    writes_for_changes,
)
from connector.programs.portal import refresh_portal
from connector.programs.spec import ProgramsSpec
from connector.store.stream import (
    CHANGE_LOG,
    SOURCES,
    ChangeBatch,
    ChangeEvent,
    ChangeFilter,
    append_changes,
    consume,
    count_changes,
)
from connector.store.types import utcnow

__all__ = ["CONSUMER", "ProgramsReport", "ProgramsStage", "run_programs"]

CONSUMER = "programs"
# Sources whose certifications complete steps (a local one was recorded by the step itself).
_SALESFORCE = tuple(s for s in SOURCES if s != "local")
Clock = Callable[[], datetime]


@dataclass
class ProgramsReport:
    """What a programs run did."""

    changes: int = 0
    steps_completed: int = 0
    segment_events: int = 0
    tier_changes: int = 0
    tier_errors: int = 0
    portal_writes: int = 0
    outbox: int = 0
    batches: int = 0

    def counts(self) -> dict[str, int]:
        """The counts as a dict (the Stage protocol's report)."""
        return asdict(self)


def _partner_of(event: ChangeEvent) -> int | None:
    if event.entity == "partner":
        return event.local_id
    for values in (event.new, event.old):
        pid = (values or {}).get("partner")
        if isinstance(pid, int):
            return pid
    return None


def _apply_ladders(
    conn: Connection, mapping: MappingSpec, spec: ProgramsSpec, pids: set[int], now: datetime,
    seq: int, report: ProgramsReport, fiscal_year_start_month: int,
) -> list[OutboxWrite]:
    writes: list[OutboxWrite] = []
    settings = RuleSettings(fiscal_year_start_month=fiscal_year_start_month)
    facts = facts_for_partners(conn, spec, now.date(), pids,
                               fiscal_year_start_month=fiscal_year_start_month)
    ranks = level_ranks(conn)
    for pid, f in facts.items():
        prog = ladder_program(conn, spec, pid)
        if prog is None or prog.ladder is None:
            continue
        tier = tier_for(prog.ladder, f, ranks)
        if tier.level is None:
            continue
        env = ActionEnv(conn, mapping, settings, now, f"ladder:{prog.id}", "partner",
                        pid, f.get("sf_id"), {}, f"ladder|{prog.id}|{pid}|{tier.level}|{seq}")
        try:
            # between reviews a ladder only moves partners up: a downgrade waits for the
            # quarterly tier review (review_tier), so a dip mid-quarter costs no tier
            result = set_level_now(env, tier.level, f"ladder {prog.id}: {tier.why()}",
                                   only_up=True)
        except ActionFailed:
            report.tier_errors += 1  # no such level in the store (yet): next change retries
            continue
        if result.status == "done":
            report.tier_changes += 1
        writes += result.writes
    return writes


def _touched_partners(conn: Connection, start: int, upto: int) -> set[int]:
    """Partners the non-echo entries of ``(start, upto]`` touch (what ``_partner_of`` says),
    reading only the entity, local id and the ``partner`` values, not whole entries."""
    c = CHANGE_LOG.c
    is_partner = c.entity == "partner"
    # The local id only matters for partners: without it, DISTINCT turns a backfill's 20,000
    # deal entries into the few dozen partners they touch. (PostgreSQL's json type has no
    # equality operator for DISTINCT; there the rows come back one per entry.)
    own_id = case((is_partner, c.local_id), else_=None)
    stmt = select(is_partner, own_id, c.new["partner"], c.old["partner"]).where(
        c.id > start, c.id <= upto, c.echo.is_(False))
    if conn.dialect.name == "sqlite":
        stmt = stmt.distinct()
    touched: set[int] = set()
    for partner_entry, local_id, new_pid, old_pid in conn.execute(stmt).all():
        pid = local_id if partner_entry else (
            new_pid if isinstance(new_pid, int) else old_pid)
        if isinstance(pid, int):
            touched.add(pid)
    return touched


def run_programs(
    engine: Engine, mapping: MappingSpec, spec: ProgramsSpec, clock: Clock = utcnow, *,
    batch_size: int = 5000, window: int = 50_000, fiscal_year_start_month: int = 1,
) -> ProgramsReport:
    """Consume the change log from the ``programs`` offset to its end, batch by batch.

    A batch examines at most ``window`` entries; of them only certifications recorded in
    Salesforce are read whole (at most ``batch_size``), the others just for the partner
    they touch.
    """
    report = ProgramsReport()
    now = clock()

    def handle(conn: Connection, batch: ChangeBatch) -> None:
        report.changes += count_changes(conn, batch.start, batch.upto)[0]
        writes: list[OutboxWrite] = []
        touched = _touched_partners(conn, batch.start, batch.upto)
        for ev in batch.events:
            pid = _partner_of(ev)
            if pid is not None and ev.new:
                for step in spec.certification_steps(str(ev.new.get("name") or "")):
                    out = complete_step(conn, spec, pid, step.id, source="salesforce",
                                        cause=f"certification:{ev.sf_id}", now=now,
                                        check_prerequisites=False)
                    if out.done:
                        report.steps_completed += 1
                        writes += writes_for_changes(conn, mapping, out.changes,
                                                     f"programs:{ev.seq}")
        if touched:
            seg_events, _ = refresh_segments(conn, spec, now, touched,
                                             fiscal_year_start_month=fiscal_year_start_month)
            report.segment_events += append_changes(
                conn, segment_diffs(conn, seg_events),
                cycle_id=f"programs-{uuid.uuid4().hex[:12]}")
            writes += _apply_ladders(conn, mapping, spec, touched, now, batch.upto,
                                     report, fiscal_year_start_month)
            # what the partner portal reads: segments and eligibility, after the tiers moved
            portal = refresh_portal(conn, mapping, spec, now, touched,
                                    cause=f"portal:{batch.upto}",
                                    fiscal_year_start_month=fiscal_year_start_month)
            report.portal_writes += len(portal.writes)
            writes += portal.writes
        report.outbox += len(enqueue(conn, writes))

    report.batches += consume(engine, CONSUMER, ChangeFilter(
        entities=("certification",), sources=_SALESFORCE,
        ops=("created", "updated", "undeleted"), echo=False, limit=batch_size, window=window,
    ), handle)
    return report


class ProgramsStage:
    """The programs consumer as a stage of the service layer's pipeline (before triggers)."""

    name = "programs"

    def __init__(self, spec: ProgramsSpec | None = None) -> None:
        self.spec = spec  # None: the runtime's, read at each run (a reload is seen)

    @classmethod
    def for_runtime(cls, rt: Any) -> ProgramsStage | None:
        """The stage for ``rt``, or None when no programs.yaml is configured."""
        return cls() if rt.rules.programs is not None else None

    def run(self, ctx: StageContext) -> dict[str, int]:
        """Run the consumer to the end of the change log with the runtime's programs.yaml and
        fiscal calendar (the one its rules use); the counts go in the run report."""
        rules = ctx.rules
        spec = self.spec if self.spec is not None else rules.programs
        if spec is None:  # programs.yaml went away at a reload
            return ProgramsReport().counts()
        report = run_programs(ctx.engine, ctx.spec, spec, ctx.clock,
                              fiscal_year_start_month=rules.fiscal_year_start_month)
        return report.counts()
