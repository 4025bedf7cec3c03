"""The push worker: stored notifications -> fetch the records by Id -> the inbound pipeline.

A notification is only a hint. The worker reads the records' current state with one SOQL query
per up to 200 Ids, applies them exactly as polling does (dedupe on SystemModstamp against the
snapshot, map, resolve, diff, echo detection, change log with ``source="push"``) and stamps the
notifications processed in the same transaction (invariant 2). Polling still runs: a row push
already applied comes back with the same SystemModstamp and is skipped.

``run_push`` is the one push path: a pass goes through the service layer like a poll, with a
``sync_run`` row (kind "push") and an API usage sample (``recorded_run``), the service's page
step (``apply_pushed``), and the pipeline stages when a business change came in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine

from connector.daemon.inbox import Pending, count_pending, mark_failed, mark_processed, pending
from connector.errors import ConnectorError, FatalError
from connector.logs import get_logger
from connector.mapping import EntityMapping, MappingSpec
from connector.service import (
    ApplyRows,
    RunReport,
    Runtime,
    Stage,
    apply_pushed,
    recorded_run,
    stage_context,
)
from connector.store import read_connection
from connector.sync.context import new_cycle_id
from connector.sync.window import select_soql

__all__ = [
    "FETCH_SIZE",
    "PushReport",
    "RowSource",
    "fetch_soql",
    "process_pending",
    "run_push",
]

FETCH_SIZE = 200  # Ids per query: keeps the SOQL well under the URI length limit
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
log = get_logger("connector.daemon.push")


class RowSource(Protocol):
    """The one Salesforce call the worker makes (SalesforceClient satisfies it)."""

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterable[list[dict[str, Any]]]: ...


@dataclass
class PushReport:
    """What one pass over the inbox did."""

    fetched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    queries: int = 0
    applied_received_at: list[datetime] = field(default_factory=list)
    # entities with a business change (not only echoes): the pipeline stages have work
    changed_entities: set[str] = field(default_factory=set)
    applied_by_entity: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str, n: int) -> None:
        if n:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n

    @property
    def processed(self) -> int:
        return sum(self.outcomes.values())


def fetch_soql(entity: EntityMapping, ids: Sequence[str]) -> str:
    """The query for ``ids`` of ``entity``: the poller's fields, its filter, by Id."""
    id_list = ", ".join(f"'{i}'" for i in ids)
    condition = f"Id IN ({id_list})"
    if entity.filter:
        condition += f" AND ({entity.filter})"
    return select_soql(entity.sobject, entity.inbound_fields(), None, filter=condition, order=False)


def run_push(
    rt: Runtime,
    *,
    stages: Callable[[], Sequence[Stage]] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    between_stages: Callable[[], None] = lambda: None,
    limit: int = 1000,
) -> tuple[RunReport | None, PushReport]:
    """One pass over the stored notifications, recorded as a run of kind "push".

    With nothing pending it returns ``(None, PushReport())`` and records nothing (the retry
    timer fires often). Otherwise the pass fetches and applies through the service layer
    (``apply_pushed``: echo detection with the integration user), and, when a business
    change came in, runs ``stages()`` with the run's id (``between_stages`` is called before
    each: the daemon's writer stops there). Notifications whose fetch failed stay pending and
    are named in the run's failures.
    """
    with read_connection(rt.engine) as conn:
        if not count_pending(conn):
            return None, PushReport()
    with recorded_run(rt, "push") as run:
        report = process_pending(rt.engine, rt.spec, rt.client(), apply=apply_pushed(rt, run),
                                 limit=limit, should_stop=should_stop)
        if report.failed:
            run.failures["push"] = (
                f"{report.failed} notification(s) could not be fetched; they stay pending "
                "and are tried again"
            )
        if report.changed_entities and stages is not None:
            ctx = stage_context(rt, run.run_id)
            for stage in stages():
                between_stages()
                run.stages[stage.name] = stage.run(ctx)
        if run.failures:
            run.status = "error"
            run.error = run.failures["push"]
    return run, report


def process_pending(
    engine: Engine,
    spec: MappingSpec,
    client: RowSource,
    *,
    apply: ApplyRows,
    limit: int = 1000,
    should_stop: Callable[[], bool] = lambda: False,
) -> PushReport:
    """Process up to ``limit`` stored notifications; failures stay pending for a later pass."""
    report = PushReport()
    with read_connection(engine) as conn:  # no write lock: the receiver keeps storing
        notes = pending(conn, limit=limit)
    by_entity: dict[str, list[Pending]] = {}
    unmapped: list[Pending] = []
    invalid: list[Pending] = []
    for note in notes:
        entity = spec.entity_for_sobject(note.sobject)
        if not _SF_ID.match(note.sf_id):
            invalid.append(note)
        elif entity is None or not entity.inbound_fields():
            unmapped.append(note)
        else:
            by_entity.setdefault(entity.name, []).append(note)
    if unmapped or invalid:
        with engine.begin() as conn:
            mark_processed(conn, [n.id for n in unmapped], "unmapped")
            mark_processed(conn, [n.id for n in invalid], "invalid")
        report.count("unmapped", len(unmapped))
        report.count("invalid", len(invalid))
    # Lookup targets first (the mapping's order), as a poll cycle does.
    for name, entity in spec.entities.items():
        group = by_entity.get(name)
        if not group:
            continue
        ids = list(dict.fromkeys(n.sf_id for n in group))
        for start in range(0, len(ids), FETCH_SIZE):
            if should_stop():
                return report
            chunk = ids[start : start + FETCH_SIZE]
            wanted = set(chunk)
            _fetch_and_apply(
                engine,
                entity,
                [n for n in group if n.sf_id in wanted],
                chunk,
                client,
                apply,
                report,
            )
    return report


def _fetch_and_apply(
    engine: Engine,
    entity: EntityMapping,
    notes: list[Pending],
    ids: list[str],
    client: RowSource,
    apply: ApplyRows,
    report: PushReport,
) -> None:
    try:
        rows: list[dict[str, Any]] = []
        report.queries += 1
        for page in client.query_pages(fetch_soql(entity, ids), include_deleted=True):
            rows.extend(page)
        with engine.begin() as conn:
            changed = apply(conn, entity, rows, new_cycle_id())
            found = {r["Id"] for r in rows}
            applied = [n for n in notes if n.sf_id in changed and changed[n.sf_id] is False]
            echoes = [n for n in notes if changed.get(n.sf_id) is True]
            dead = [n for n in notes if n.sf_id in changed and changed[n.sf_id] is None]
            unchanged = [n for n in notes if n.sf_id in found and n.sf_id not in changed]
            missing = [n for n in notes if n.sf_id not in found]
            mark_processed(conn, [n.id for n in applied], "applied")
            mark_processed(conn, [n.id for n in echoes], "echo")
            mark_processed(conn, [n.id for n in dead], "dead_letter")
            mark_processed(conn, [n.id for n in unchanged], "unchanged")
            mark_processed(conn, [n.id for n in missing], "missing")
    except FatalError:
        raise
    except ConnectorError as err:
        log.warning("push.fetch_failed", entity=entity.name, ids=len(ids), error=str(err))
        with engine.begin() as conn:
            mark_failed(conn, [n.id for n in notes], str(err))
        report.failed += len(notes)
        return
    report.fetched += len(rows)
    report.count("applied", len(applied))
    report.count("echo", len(echoes))
    report.count("dead_letter", len(dead))
    report.count("unchanged", len(unchanged))
    report.count("missing", len(missing))
    report.applied_received_at.extend(n.received_at for n in applied)
    if applied:
        report.changed_entities.add(entity.name)
        report.applied_by_entity[entity.name] = report.applied_by_entity.get(entity.name, 0) + len(
            applied
        )
