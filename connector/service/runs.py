"""Runs of the inbound core: one sync cycle, a backfill, a reconcile, and a push pass.

Every run writes a ``sync_run`` row (kind, status, counts, error) and an API usage sample
with the calls made during that run (the client's counter is cumulative across a daemon's
life, so each run records its own delta). Callers hold ``run_lock`` around a run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from connector.errors import ConfigError, ConfigProblem, ConnectorError
from connector.mapping import EntityMapping, MappingSpec
from connector.service.runtime import Runtime
from connector.service.stages import pipeline_stages, run_stages
from connector.store import repo
from connector.sync.apply import apply_page
from connector.sync.backfill import Mode, backfill_entity
from connector.sync.context import Progress, new_cycle_id
from connector.sync.cycle import run_cycle
from connector.sync.reasons import safe_reason
from connector.sync.reconcile import reconcile_entity

__all__ = [
    "ApplyRows",
    "RunReport",
    "apply_pushed",
    "backfill",
    "gauges",
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
    kind: str  # sync | backfill | reconcile | push
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | ok | error
    objects: list[dict[str, Any]] = field(default_factory=list)
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # entity -> one-line reason
    api_calls: int = 0
    error: str | None = None
    # reconcile: per entity, records compared with the store and repaired, fields repaired
    repairs: dict[str, Any] = field(default_factory=dict)

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
            **({"repairs": self.repairs} if self.repairs else {}),
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


def gauges(conn: Connection, now: datetime) -> dict[str, Any]:
    """What a run's row records of the store as the run ends, for the charts over time: the
    outbox's depth (pending, dead) and the largest polling-cursor lag in seconds (None before
    any cursor). A few indexed reads (``outbox_count`` and ``sync_state``)."""
    from connector.outbox.admin import status_counts
    from connector.service.status import StatusReader

    counts = status_counts(conn)
    lags = StatusReader(conn, clock=lambda: now).cursor_lag().values()
    return {"outbox_pending": counts["pending"], "outbox_dead": counts["dead"],
            "max_lag_s": round(max(lags), 1) if lags else None}


def _finish(rt: Runtime, report: RunReport) -> None:
    usage = rt.client().usage if rt.connected else None
    with rt.engine.begin() as conn:
        counts = {**report.counts(), **gauges(conn, report.finished_at or rt.clock())}
        repo.finish_sync_run(
            conn, report.run_id, status=report.status, counts=counts, error=report.error
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
        access: dict[str, Any] = {}
        run_cycle(
            rt.context(progress), entities, keep_diffs=False, backfill_mode=backfill_mode,
            failures=report.failures, stops=stops_the_cycle,
            reason=lambda err: _access_reason(rt, err, access) or safe_reason(err),
            done=lambda run: report.objects.append(run.summary()),
        )
        report.stages.update(run_stages(rt, stages, report.run_id))
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
    """Compare the org with the store by key and hash; repair drift and missed deletes; and
    write back the fields the connector owns where the org's copy differs (out-fields
    converge: ``stages["writeback"]`` says what was repaired, ``stages["outbox"]`` what the
    dispatcher then sent)."""
    from connector.outbox.converge import WriteBack
    from connector.outbox.dispatcher import dispatch

    chosen = pick_entities(rt.spec, entity)
    with recorded_run(rt, "reconcile") as report:
        ctx = rt.context(progress)
        writeback = WriteBack(new_cycle_id())
        for ent in chosen:
            report.objects.append(reconcile_entity(ctx, ent, writeback).summary())
        report.stages["writeback"] = {"repaired": writeback.repaired}
        report.repairs = writeback.summary()
        if writeback.repaired:
            report.stages["outbox"] = dispatch(rt).counts()
    return report


# (the batch's transaction, entity, raw rows fetched, cycle id) -> {sf_id: echo?} for the rows
# that produced a change-log entry (echo: our own write coming back, which fires nothing), and
# None for the rows that could not be stored (dead-lettered)
ApplyRows = Callable[
    [Connection, EntityMapping, Sequence[dict[str, Any]], str], dict[str, bool | None]
]


def apply_pushed(rt: Runtime, report: RunReport) -> ApplyRows:
    """The push path's page step for the run ``report`` (kind "push"), the same as a poll's:
    raw rows fetched by Id are deduplicated against the snapshots, mapped, resolved and
    logged with ``source="push"``, and our own write-backs are recognised as echoes (the
    integration user's id); the poll cursor does not move. What each call applied is added to
    the run's per-entity counts. Runs in the caller's transaction."""
    user_id = rt.client().user_id
    by_entity: dict[str, dict[str, Any]] = {}

    def apply(
        conn: Connection, entity: EntityMapping, rows: Sequence[dict[str, Any]], cycle_id: str
    ) -> dict[str, bool | None]:
        res = apply_page(conn, entity, rows, cycle_id=cycle_id, source="push",
                         integration_user_id=user_id)
        counts = by_entity.get(entity.name)
        if counts is None:
            counts = by_entity[entity.name] = {"entity": entity.name, "mode": "push", "seen": 0,
                                               "changes": 0, "echoes": 0, "skipped": 0,
                                               "dead_letters": 0}
            report.objects.append(counts)
        counts["seen"] += res.seen
        counts["changes"] += len(res.diffs)
        counts["echoes"] += sum(1 for d in res.diffs if d.echo)
        counts["skipped"] += res.skipped
        counts["dead_letters"] += res.dead
        return res.outcomes()

    return apply
