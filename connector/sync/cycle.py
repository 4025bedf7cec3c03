"""One sync cycle over every mapped entity, in dependency order (lookup targets first)."""

from __future__ import annotations

from collections.abc import Iterable

from connector.mapping import EntityMapping
from connector.store import repo
from connector.sync.backfill import Mode, Prepared, backfill_entity, needs_backfill
from connector.sync.context import SyncContext
from connector.sync.poller import ObjectRun, poll_entity
from connector.sync.reasons import safe_reason

__all__ = ["needs_backfill", "run_cycle", "sync_entity"]


def run_cycle(
    ctx: SyncContext,
    entities: Iterable[str] | None = None,
    *,
    keep_diffs: bool = True,
    backfill_mode: Mode = "auto",
) -> list[ObjectRun]:
    """Backfill entities never loaded, poll the others; return one ObjectRun per entity."""
    wanted = set(entities) if entities is not None else None
    runs: list[ObjectRun] = []
    for name, entity in ctx.spec.entities.items():
        if wanted is not None and name not in wanted:
            continue
        if entity.inbound_fields() == []:
            continue  # an out-only entity has nothing to read
        runs.append(sync_entity(ctx, entity, keep_diffs=keep_diffs, backfill_mode=backfill_mode))
    return runs


def sync_entity(
    ctx: SyncContext,
    entity: EntityMapping,
    *,
    keep_diffs: bool = True,
    backfill_mode: Mode = "auto",
    prepared: Prepared | None = None,
) -> ObjectRun:
    """Backfill ``entity`` if it was never loaded, else poll it; a failure is kept in its state.

    ``prepared``: what ``prepare_backfills`` did for this entity's first load, if anything.
    """
    with ctx.engine.begin() as conn:
        state = repo.get_state(conn, entity.name)
    try:
        if needs_backfill(state):
            return backfill_entity(
                ctx, entity, mode=backfill_mode, keep_diffs=keep_diffs, prepared=prepared
            )
        return poll_entity(ctx, entity, keep_diffs=keep_diffs)
    except Exception as err:
        with ctx.engine.begin() as conn:
            repo.save_state(conn, entity.name, last_status="error", last_error=safe_reason(err))
        raise
