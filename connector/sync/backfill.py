"""The first load of an object (or a forced reload): Bulk API 2.0 for big ones, REST otherwise.

Both paths commit page by page with constant memory. The REST path reads in SystemModstamp
order, so its cursor advances with every page and a crash resumes where it stopped. Bulk
results come in no guaranteed order: the cursor moves to the backfill's signpost only at the
end, and a restart re-reads the job's rows, which the (Id, SystemModstamp) dedupe skips cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from connector.mapping import EntityMapping
from connector.store import repo
from connector.sync.apply import apply_page
from connector.sync.context import SyncContext, new_cycle_id
from connector.sync.poller import ObjectRun, poll_window_once
from connector.sync.prefetch import prefetched
from connector.sync.window import Window, format_soql_datetime, parse_sf_datetime, select_soql

if TYPE_CHECKING:
    from connector.salesforce.bulk import QueryJob

__all__ = [
    "Mode",
    "Prepared",
    "backfill_entity",
    "count_rows",
    "needs_backfill",
    "prepare_backfills",
]

Mode = Literal["auto", "bulk", "rest"]


@dataclass(frozen=True)
class Prepared:
    """A fresh backfill's first calls, made before the cycle reads anything: its signpost,
    the row count, the mode, and (Bulk) the query job already created."""

    signpost: datetime
    total: int
    mode: Mode  # "bulk" or "rest"
    job: QueryJob | None = None


def needs_backfill(state: repo.SyncStateRow | None) -> bool:
    """True before an entity's first load completes (including one a crash interrupted)."""
    if state is None or state.cursor is None:
        return True
    return bool(state.backfill and state.backfill.get("status") == "running")


def _resuming(state: repo.SyncStateRow | None) -> bool:
    progress: dict[str, Any] = (state.backfill or {}) if state else {}
    return progress.get("status") == "running" and bool(progress.get("signpost"))


def _bulk_soql(entity: EntityMapping, signpost: datetime) -> str:
    return select_soql(
        entity.sobject,
        entity.inbound_fields(),
        Window(None, signpost),
        filter=entity.filter,
        order=False,
    )


def prepare_backfills(
    ctx: SyncContext, entities: Sequence[EntityMapping], *, mode: Mode = "auto"
) -> dict[str, Prepared]:
    """Count the rows of every entity about to be loaded for the first time and create the
    Bulk jobs of the big ones, before any entity is read: the org builds the big results
    while the small objects load over REST. The same calls ``backfill_entity`` would make,
    earlier; a failure stops the preparing, and that entity's own turn meets it as before.
    """
    with ctx.engine.begin() as conn:
        states = {e.name: repo.get_state(conn, e.name) for e in entities}
    fresh = [
        e for e in entities if needs_backfill(states[e.name]) and not _resuming(states[e.name])
    ]
    if not fresh:
        return {}
    signpost = ctx.clock() - timedelta(seconds=ctx.settings.signpost_skew_seconds)
    out: dict[str, Prepared] = {}
    try:
        for entity in fresh:
            total = count_rows(ctx, entity, signpost)
            chosen: Mode = mode
            if chosen == "auto":
                chosen = "bulk" if total > ctx.settings.bulk_threshold else "rest"
            job = (
                ctx.client.start_bulk_query(_bulk_soql(entity, signpost))
                if chosen == "bulk"
                else None
            )
            out[entity.name] = Prepared(signpost, total, chosen, job)
    except Exception:  # the entity's own turn makes the call again and fails where it belongs
        pass
    return out


def count_rows(ctx: SyncContext, entity: EntityMapping, signpost: datetime) -> int:
    """How many rows the backfill will read (one COUNT() call)."""
    where = [f"SystemModstamp <= {format_soql_datetime(signpost)}"]
    if entity.filter:
        where.insert(0, f"({entity.filter})")
    return ctx.client.count(f"SELECT COUNT() FROM {entity.sobject} WHERE {' AND '.join(where)}")


def backfill_entity(
    ctx: SyncContext,
    entity: EntityMapping,
    *,
    mode: Mode = "auto",
    keep_diffs: bool = False,
    prepared: Prepared | None = None,
) -> ObjectRun:
    """Load every row of ``entity`` up to a signpost; resumes a backfill a crash interrupted.

    ``prepared``: what ``prepare_backfills`` did for it already (a fresh load only).
    """
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        state = repo.get_state(conn, entity.name)
    progress = (state.backfill or {}) if state else {}
    job: QueryJob | None = None
    if _resuming(state):
        signpost = parse_sf_datetime(progress["signpost"])
        mode = progress.get("mode", mode)
        prepared = None
    elif prepared is not None:
        signpost, total, mode, job = prepared.signpost, prepared.total, prepared.mode, prepared.job
    else:
        signpost = now - timedelta(seconds=ctx.settings.signpost_skew_seconds)
    if prepared is None:
        total = count_rows(ctx, entity, signpost)
    if mode == "auto":
        mode = "bulk" if total > ctx.settings.bulk_threshold else "rest"
    marker = {"status": "running", "signpost": signpost.isoformat(), "mode": mode, "rows": total}
    with ctx.engine.begin() as conn:
        repo.save_state(conn, entity.name, backfill=marker)
    run = ObjectRun(entity=entity.name, mode=f"backfill-{mode}")
    cycle_id = new_cycle_id()
    ctx.progress(entity.name, 0, total)
    if mode == "rest":
        # Resume from the cursor the last committed page proved (None on a fresh start).
        run.cursor = state.cursor if state and progress.get("status") == "running" else None
        start = run.cursor - timedelta(seconds=ctx.settings.lag_seconds) if run.cursor else None
        poll_window_once(
            ctx,
            entity,
            Window(start, signpost),
            run,
            cycle_id,
            keep_diffs=keep_diffs,
            source="backfill",
        )
    else:
        soql = _bulk_soql(entity, signpost)
        for page in prefetched(ctx.client.bulk_query(soql, job=job)):
            with ctx.engine.begin() as conn:
                res = apply_page(
                    conn,
                    entity,
                    page,
                    cycle_id=cycle_id,
                    source="backfill",
                    integration_user_id=ctx.client.user_id,
                )
            run.seen += res.seen
            run.skipped += res.skipped
            run.dead += res.dead
            run.applied += len(res.diffs)
            if keep_diffs:
                run.diffs.extend(res.diffs)
            ctx.progress(entity.name, run.seen, total)
    run.cursor = signpost if run.cursor is None or run.cursor < signpost else run.cursor
    with ctx.engine.begin() as conn:
        repo.save_state(
            conn,
            entity.name,
            cursor=run.cursor,
            backfill={**marker, "status": "done", "finished_at": ctx.clock().isoformat()},
            last_run_at=now,
            last_status="ok",
            last_error=None,
        )
    return run
