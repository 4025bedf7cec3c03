"""The outbox as pipeline stages: queue local PRM edits first, dispatch everything due last."""

from __future__ import annotations

from connector.outbox.dispatcher import dispatch
from connector.outbox.local import queue_local_changes
from connector.pipeline import StageContext

__all__ = ["LocalChangesStage", "OutboxStage"]


class OutboxStage:
    """Runs after the triggers stage in ``sync --once`` and in the daemon's cycle: sends what
    the stages before it queued (local edits were queued by ``LocalChangesStage``)."""

    name = "outbox"

    def run(self, ctx: StageContext) -> dict[str, int]:
        """Dispatch what is due; counts for the run report."""
        return dispatch((ctx.engine, ctx.client, ctx.spec, ctx.settings)).counts()


class LocalChangesStage:
    """Queues the local PRM edits made since the last cycle, before the cycle's own effects.

    Runs first, so that a person's edit (say a points balance written before the cycle) is
    queued before a trigger's later effect on the same field, which then wins the coalescing.
    """

    name = "outbox-local"

    def run(self, ctx: StageContext) -> dict[str, int]:
        """Queue the pending local changes; counts for the run report."""
        local = queue_local_changes(ctx.engine, ctx.spec)
        return {"queued": local.queued, "examined": local.examined}
