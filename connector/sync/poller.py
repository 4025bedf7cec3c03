"""Incremental polling: one inclusive SystemModstamp window per mapped object per cycle.

Each page of rows commits with the cursor it proves (rows, snapshots, change log, cursor in one
transaction); the last commit moves the cursor to the signpost. Soft deletes arrive through
queryAll's ``IsDeleted``; hard deletes (emptied recycle bin) through the ``deleted`` resource,
checked at most every ``deleted_check_seconds`` so an idle cycle costs one call per object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connector.mapping import EntityMapping
from connector.salesforce import QueryTimeout
from connector.store import repo
from connector.store.diffs import RecordDiff
from connector.sync.apply import apply_page
from connector.sync.context import SyncContext, new_cycle_id
from connector.sync.deletes import apply_deletions
from connector.sync.prefetch import prefetched
from connector.sync.window import Window, advance_cursor, poll_window, select_soql, split_window

__all__ = ["ObjectRun", "poll_entity", "poll_window_once"]

EPOCH_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class ObjectRun:
    """The outcome of syncing one entity in one cycle."""

    entity: str
    mode: str = "poll"
    seen: int = 0
    applied: int = 0
    skipped: int = 0
    dead: int = 0
    deleted: int = 0
    cursor: datetime | None = None
    diffs: list[RecordDiff] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """JSON-friendly counts for ``--json`` output and the sync run log."""
        return {
            "entity": self.entity,
            "mode": self.mode,
            "seen": self.seen,
            "changes": self.applied,  # logged, whether or not the diffs were kept
            "skipped": self.skipped,
            "dead_letters": self.dead,
            "deleted": self.deleted,
            "cursor": self.cursor.isoformat() if self.cursor else None,
        }


def poll_entity(ctx: SyncContext, entity: EntityMapping, *, keep_diffs: bool = True) -> ObjectRun:
    """Poll one entity from its cursor to the signpost and commit page by page."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        state = repo.get_state(conn, entity.name)
    cursor = state.cursor if state else None
    window = poll_window(
        cursor,
        now,
        lag_seconds=ctx.settings.lag_seconds,
        skew_seconds=ctx.settings.signpost_skew_seconds,
    )
    run = ObjectRun(entity=entity.name, cursor=cursor)
    cycle_id = new_cycle_id()
    poll_window_once(ctx, entity, window, run, cycle_id, keep_diffs=keep_diffs)
    _check_hard_deletes(ctx, entity, run, cycle_id, state, now)
    with ctx.engine.begin() as conn:
        run.cursor = advance_cursor(run.cursor, window.end, window.end)
        repo.save_state(
            conn,
            entity.name,
            cursor=run.cursor,
            last_run_at=now,
            last_status="ok",
            last_error=None,
        )
    return run


def poll_window_once(
    ctx: SyncContext,
    entity: EntityMapping,
    window: Window,
    run: ObjectRun,
    cycle_id: str,
    *,
    keep_diffs: bool = True,
    source: str = "poll",
) -> None:
    """Read one window page by page; on QUERY_TIMEOUT split it in two and read each half."""
    soql = select_soql(entity.sobject, entity.inbound_fields(), window, filter=entity.filter)
    try:
        pages = ctx.client.query_pages(
            soql, include_deleted=True, batch_size=ctx.settings.page_size
        )
        for page in prefetched(pages):
            with ctx.engine.begin() as conn:
                res = apply_page(
                    conn,
                    entity,
                    page,
                    cycle_id=cycle_id,
                    source=source,
                    integration_user_id=ctx.client.user_id,
                )
                run.cursor = advance_cursor(run.cursor, res.max_modstamp, window.end)
                repo.save_state(conn, entity.name, cursor=run.cursor)
            _count(run, res.seen, res.skipped, res.dead, res.diffs, keep_diffs)
            ctx.progress(entity.name, run.seen, None)
    except QueryTimeout:
        halves = split_window(window, EPOCH_FLOOR)
        if halves is None:
            raise
        for half in halves:
            poll_window_once(ctx, entity, half, run, cycle_id, keep_diffs=keep_diffs, source=source)


def _count(
    run: ObjectRun, seen: int, skipped: int, dead: int, diffs: list[RecordDiff], keep: bool
) -> None:
    run.seen += seen
    run.skipped += skipped
    run.dead += dead
    run.applied += len(diffs)
    run.deleted += sum(1 for d in diffs if d.op == "deleted")
    if keep:
        run.diffs.extend(diffs)


def _check_hard_deletes(
    ctx: SyncContext,
    entity: EntityMapping,
    run: ObjectRun,
    cycle_id: str,
    state: repo.SyncStateRow | None,
    now: datetime,
) -> None:
    """Ask the ``deleted`` resource for ids purged since the last check, when it is due."""
    last = state.deleted_cursor if state else None
    interval = timedelta(seconds=ctx.settings.deleted_check_seconds)
    if last is not None and now - last < interval:
        return
    lookback = timedelta(days=ctx.settings.deleted_lookback_days)
    start = (
        max(last - timedelta(seconds=ctx.settings.lag_seconds), now - lookback)
        if last
        else (now - lookback)
    )
    # The resource ignores seconds and wants more than a minute between start and end; a
    # wider window only repeats deletions, which apply_deletions ignores.
    start = min(start, now - timedelta(minutes=2))
    result = ctx.client.deleted(entity.sobject, start, now)
    with ctx.engine.begin() as conn:
        diffs = apply_deletions(conn, entity, result.records, cycle_id=cycle_id, source="poll")
        # The org says how far its answer reaches; the next check starts there (minus the lag),
        # so a delete stamped after that instant is never skipped.
        covered = result.latest_date_covered
        repo.save_state(conn, entity.name, deleted_cursor=min(covered, now) if covered else now)
    _count(run, 0, 0, 0, diffs, True)
