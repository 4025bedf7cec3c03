"""The steps a sync cycle runs after inbound: local edits queued, programs, triggers, outbox.

Each engineer of a post-inbound step adds one line to ``pipeline_stages``; a cycle runs them
all, in that order, after every entity has been read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from connector.service.runtime import Runtime

__all__ = ["Stage", "pipeline_stages"]


class Stage(Protocol):
    """One post-inbound step of a cycle (consumes the change log, writes back, ...)."""

    name: str

    def run(self, rt: Runtime, run_id: str) -> dict[str, int]:
        """Do the step's work for run ``run_id``; return counts for the run report."""
        ...


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
