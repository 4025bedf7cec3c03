"""One sync cycle over every mapped entity, in dependency order (lookup targets first)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connector.mapping import EntityMapping
from connector.store import repo
from connector.sync.backfill import (
    Mode,
    Prepared,
    backfill_entity,
    needs_backfill,
    prepare_backfills,
)
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
    failures: dict[str, str] | None = None,
    stops: Callable[[BaseException], bool] = lambda err: True,
    done: Callable[[ObjectRun], None] = lambda run: None,
    reason: Callable[[BaseException], str] = safe_reason,
) -> list[ObjectRun]:
    """The inbound half of a cycle (``service.sync_once`` runs it): backfill the entities never
    loaded, poll the others, lookup targets first; one ObjectRun per entity read.

    First loads are counted, and their Bulk jobs created, before any entity is read, so the
    org builds the big results while the small objects load. With ``failures``, an entity
    whose read fails for a reason ``stops`` does not call cycle-wide is recorded there (its
    one-line reason, worded by ``reason``) and the others go on; otherwise the failure raises.
    ``done`` sees each entity's run as it ends (a cycle stopped later still reports what it read).
    """
    wanted = set(entities) if entities is not None else None
    chosen = [
        entity
        for name, entity in ctx.spec.entities.items()
        if (wanted is None or name in wanted)
        and entity.inbound_fields() != []  # an out-only entity has nothing to read
    ]
    prepared = prepare_backfills(ctx, chosen, mode=backfill_mode)
    runs: list[ObjectRun] = []
    for entity in chosen:
        try:
            run = sync_entity(
                ctx, entity, keep_diffs=keep_diffs, backfill_mode=backfill_mode,
                prepared=prepared.get(entity.name),
            )
        except Exception as err:
            if failures is None or stops(err):
                raise
            failures[entity.name] = reason(err)
            continue
        runs.append(run)
        done(run)
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
