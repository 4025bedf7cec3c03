"""One sync cycle over every mapped entity, in dependency order (lookup targets first)."""

from __future__ import annotations

from collections.abc import Iterable

from connector.store import repo
from connector.sync.backfill import Mode, backfill_entity
from connector.sync.context import SyncContext
from connector.sync.poller import ObjectRun, poll_entity

__all__ = ["needs_backfill", "run_cycle"]


def needs_backfill(state: repo.SyncStateRow | None) -> bool:
    """True before an entity's first load completes (including one a crash interrupted)."""
    if state is None or state.cursor is None:
        return True
    return bool(state.backfill and state.backfill.get("status") == "running")


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
        with ctx.engine.begin() as conn:
            state = repo.get_state(conn, name)
        try:
            if needs_backfill(state):
                runs.append(backfill_entity(ctx, entity, mode=backfill_mode, keep_diffs=keep_diffs))
            else:
                runs.append(poll_entity(ctx, entity, keep_diffs=keep_diffs))
        except Exception as err:
            with ctx.engine.begin() as conn:
                repo.save_state(conn, name, last_status="error", last_error=str(err)[:2000])
            raise
    return runs
