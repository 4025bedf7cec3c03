"""The steps a sync cycle runs after inbound: local edits queued, programs, triggers, outbox.

Each engineer of a post-inbound step adds one line to ``pipeline_stages``; a cycle runs them
all, in that order, after every entity has been read. Every stage takes the same typed
``StageContext`` (``connector.pipeline``), made here from the runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from connector.pipeline import Stage, StageContext

if TYPE_CHECKING:
    from connector.service.runtime import Runtime

__all__ = ["Stage", "StageContext", "pipeline_stages", "run_stages", "stage_context"]


def pipeline_stages(rt: Runtime) -> list[Stage]:
    """The post-inbound stages of a cycle for ``rt``, in the order they run."""
    from connector.outbox.stage import LocalChangesStage, OutboxStage
    from connector.programs.stage import ProgramsStage
    from connector.triggers.stage import TriggersStage

    stages: list[Stage] = []
    stages.append(LocalChangesStage())  # edits made before the cycle queue before its effects
    if (programs := ProgramsStage.for_runtime(rt)) is not None:
        stages.append(programs)  # first: its segment events are the triggers' input
    stages.append(TriggersStage.for_runtime(rt))
    stages.append(OutboxStage())  # after the triggers stage: it sends what they queued
    return stages


def stage_context(rt: Runtime, run_id: str) -> StageContext:
    """What the stages of run ``run_id`` are handed (the client stays lazy)."""
    return StageContext(
        engine=rt.engine, spec=rt.spec, settings=rt.settings, run_id=run_id, clock=rt.clock,
        client=rt.client, rules=rt.rules,
    )


def run_stages(
    rt: Runtime, stages: Sequence[Stage], run_id: str, *, only: str | None = None
) -> dict[str, dict[str, int]]:
    """Run ``stages`` (or just the one named ``only``) in order; their counts by name."""
    ctx = stage_context(rt, run_id)
    return {s.name: s.run(ctx) for s in stages if only is None or s.name == only}
