"""Runs of the inbound core: one sync cycle, a backfill, a reconcile, and pushed rows.

Every run writes a ``sync_run`` row (kind, status, counts, error) and an API usage sample
with the calls made during that run (the client's counter is cumulative across a daemon's
life, so each run records its own delta). Callers hold ``run_lock`` around a run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.errors import ConfigError, ConfigProblem, ConnectorError
from connector.mapping import EntityMapping, MappingSpec
from connector.service.runtime import Runtime
from connector.service.stages import pipeline_stages
from connector.store import repo
from connector.sync.apply import PageResult, apply_rows
from connector.sync.backfill import Mode, backfill_entity, prepare_backfills
from connector.sync.context import Progress, new_cycle_id
from connector.sync.cycle import sync_entity
from connector.sync.reasons import safe_reason
from connector.sync.reconcile import reconcile_entity

__all__ = [
    "RunReport",
    "apply_pushed",
    "backfill",
    "pick_entities",
    "reconcile",
    "recorded_run",
    "stops_the_cycle",
    "sync_once",
]


@dataclass
class RunReport:
    """What one run did: per-entity counts, stage counts, API calls, and how it ended."""

    run_id: str
    kind: str  # sync | backfill | reconcile
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | ok | error
    objects: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # entity -> one-line reason
    api_calls: int = 0
    error: str | None = None

    @property
    def changes(self) -> int:
        """Change-log entries this run wrote (all entities)."""
        return sum(int(o.get("changes", 0) or 0) for o in self.objects)

    @property
    def dead_letters(self) -> int:
        """Rows this run parked in the dead letter queue."""
        return sum(int(o.get("dead_letters", 0) or 0) for o in self.objects)

    def counts(self) -> dict[str, Any]:
        """The counts kept in the run's ``sync_run`` row."""
        return {
            "changes": self.changes,
            "dead_letters": self.dead_letters,
            "api_calls": self.api_calls,
            "objects": self.objects,
            "stages": self.stages,
            "failures": self.failures,
        }

    def summary(self) -> dict[str, Any]:
        """JSON-friendly form for ``--json`` output."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "error": self.error,
            **self.counts(),
        }


def pick_entities(spec: MappingSpec, name: str | None) -> list[EntityMapping]:
    """Every mapped entity (``name`` None) or just ``name``; an unknown name is bad input."""
    if name is None:
        return list(spec.entities.values())
    if name not in spec.entities:
        known = ", ".join(spec.entities)
        raise ConfigError(
            [ConfigProblem("<command line>", 1, 1, f"unknown entity '{name}' (known: {known})")]
        )
    return [spec.entities[name]]


@contextmanager
def recorded_run(rt: Runtime, kind: str) -> Iterator[RunReport]:
    """Write the run's ``sync_run`` row and API usage sample around the block."""
    report = RunReport(run_id=uuid.uuid4().hex, kind=kind, started_at=rt.clock())
    calls_before = rt.api_calls()
    with rt.engine.begin() as conn:
        repo.start_sync_run(conn, report.run_id, kind, started_at=report.started_at)
    try:
        yield report
    except BaseException as err:
        report.status = "error"
        report.error = safe_reason(err)
        raise
    else:
        if report.status == "running":
            report.status = "error" if report.failures else "ok"
    finally:
        report.finished_at = rt.clock()
        report.api_calls = rt.api_calls() - calls_before
        _finish(rt, report)


def _finish(rt: Runtime, report: RunReport) -> None:
    usage = rt.client().usage if rt.connected else None
    with rt.engine.begin() as conn:
        repo.finish_sync_run(
            conn, report.run_id, status=report.status, counts=report.counts(), error=report.error
        )
        if rt.connected:
            repo.record_api_usage(
                conn,
                used=usage.used if usage else None,
                max=usage.max if usage else None,
                calls=report.api_calls,
                at=report.finished_at,
            )


def stops_the_cycle(err: BaseException) -> bool:
    """True for failures every other entity would meet too (auth, limits, outage, store).

    Anything else (a query the org rejects for one object, say) is kept in that entity's
    state and the cycle goes on with the others.
    """
    from connector.salesforce import (
        ApiBudgetExhausted,
        ApiLimitExceeded,
        ApiUnavailable,
        AuthFailed,
        SessionExpired,
    )

    if not isinstance(err, ConnectorError):
        return True
    return isinstance(
        err, AuthFailed | SessionExpired | ApiUnavailable | ApiLimitExceeded | ApiBudgetExhausted
    )


def _access_reason(rt: Runtime, err: BaseException, cache: dict[str, Any]) -> str | None:
    """A field or object the integration user cannot see, said with its fix (see
    ``service.access``)."""
    from connector.service.access import access_reason

    try:
        return access_reason(rt.client(), rt.settings.salesforce.username, err, cache)
    except Exception as inner:
        if stops_the_cycle(inner):
            raise
        return None


def _failed(report: RunReport) -> None:
    if report.failures:
        report.status = "error"
        report.error = "; ".join(f"{name}: {why}" for name, why in report.failures.items())


def sync_once(
    rt: Runtime,
    *,
    progress: Progress | None = None,
    entities: Sequence[str] | None = None,
    backfill_mode: Mode = "auto",
) -> RunReport:
    """One cycle: inbound for every entity (backfill or poll), then every pipeline stage.

    An entity whose read fails is reported in ``failures`` (status "error") and the others go
    on; failures that would hit every entity raise. Returns the report of the run.
    """
    # Stages are built first: a broken triggers.yaml stops the cycle before anything is read.
    stages = pipeline_stages(rt)
    with recorded_run(rt, "sync") as report:
        ctx = rt.context(progress)
        chosen = [
            entity
            for entity in rt.spec.entities.values()
            if (entities is None or entity.name in entities)
            and entity.inbound_fields() != []  # an out-only entity has nothing to read
        ]
        # First loads: counts made and Bulk jobs created up front, so the org builds the big
        # results while the small objects are read.
        prepared = prepare_backfills(ctx, chosen, mode=backfill_mode)
        access: dict[str, Any] = {}
        for entity in chosen:
            try:
                run = sync_entity(
                    ctx,
                    entity,
                    keep_diffs=False,
                    backfill_mode=backfill_mode,
                    prepared=prepared.get(entity.name),
                )
            except Exception as err:
                if stops_the_cycle(err):
                    raise
                report.failures[entity.name] = _access_reason(rt, err, access) or safe_reason(
                    err)
                continue
            report.objects.append(run.summary())
        for stage in stages:
            report.stages[stage.name] = stage.run(rt, report.run_id)
        _failed(report)
    return report


def backfill(
    rt: Runtime,
    *,
    entity: str | None = None,
    mode: Mode = "auto",
    progress: Progress | None = None,
) -> RunReport:
    """Load every row of the mapped objects (or one) again; resumes an interrupted backfill."""
    chosen = pick_entities(rt.spec, entity)
    with recorded_run(rt, "backfill") as report:
        ctx = rt.context(progress)
        for ent in chosen:
            report.objects.append(backfill_entity(ctx, ent, mode=mode).summary())
    return report


def reconcile(
    rt: Runtime, *, entity: str | None = None, progress: Progress | None = None
) -> RunReport:
    """Compare the org with the store by key and hash; repair drift and missed deletes."""
    chosen = pick_entities(rt.spec, entity)
    with recorded_run(rt, "reconcile") as report:
        ctx = rt.context(progress)
        for ent in chosen:
            report.objects.append(reconcile_entity(ctx, ent).summary())
    return report


def apply_pushed(
    rt: Runtime, entity: str, rows: Sequence[dict[str, Any]], *, source: str = "push"
) -> PageResult:
    """Run fetched raw rows of ``entity`` through the inbound map/resolve/persist path.

    For the daemon's push path: the rows (raw sObject dicts, as a query returns them) are
    deduplicated against the snapshots like polled ones, and their diffs logged with
    ``source``; the poll cursor does not move. One transaction.
    """
    mapping = pick_entities(rt.spec, entity)[0]
    user_id = rt.client().user_id if rt.connected else None
    with rt.engine.begin() as conn:
        return apply_rows(
            conn, mapping, rows, cycle_id=new_cycle_id(), source=source, integration_user_id=user_id
        )
