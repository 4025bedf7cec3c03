"""The outbox as a pipeline stage: queue local PRM edits, then dispatch everything due."""

from __future__ import annotations

from typing import Any

from connector.outbox.dispatcher import dispatch
from connector.outbox.local import queue_local_changes

__all__ = ["LocalChangesStage", "OutboxStage"]


class OutboxStage:
    """Runs after the triggers stage in ``sync --once`` and in the daemon's cycle."""

    name = "outbox"

    def run(self, rt: Any, run_id: str) -> dict[str, int]:
        """Queue local changes and dispatch; counts for the run report."""
        local = queue_local_changes(rt.engine, rt.spec)
        report = dispatch(rt)
        counts = report.counts()
        counts["local_queued"] = local.queued
        return counts


class LocalChangesStage:
    """Queues the local PRM edits made since the last cycle, before the cycle's own effects.

    Runs first, so that a person's edit (say a points balance written before the cycle) is
    queued before a trigger's later effect on the same field, which then wins the coalescing.
    """

    name = "outbox-local"

    def run(self, rt: Any, run_id: str) -> dict[str, int]:
        """Queue the pending local changes; counts for the run report."""
        local = queue_local_changes(rt.engine, rt.spec)
        return {"queued": local.queued, "examined": local.examined}
