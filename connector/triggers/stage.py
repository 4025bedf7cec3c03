"""The triggers step of a sync cycle, as a stage of the service layer's pipeline."""

from __future__ import annotations

from typing import Any

from connector.pipeline import StageContext
from connector.triggers.consumer import run_triggers
from connector.triggers.spec import RuleSet

__all__ = ["TriggersStage"]


class TriggersStage:
    """Consume the change log with the rules of the runtime's rule environment."""

    name = "triggers"

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules  # None: the runtime's, read at each run (a reload is seen)

    @classmethod
    def for_runtime(cls, rt: Any) -> TriggersStage:
        """The stage of ``rt``: its rules are ``rt.rules.rules`` (loaded once, by the
        runtime; a bad file raised ConfigError when it was built)."""
        rt.rules  # noqa: B018  (builds the environment now: a bad file fails before the cycle)
        return cls()

    def run(self, ctx: StageContext) -> dict[str, int]:
        """Run the consumer to the end of the change log; the counts go in the run report."""
        rules = self.rules if self.rules is not None else ctx.rules.rules
        report = run_triggers(ctx.engine, ctx.spec, rules, ctx.clock, run_id=ctx.run_id)
        return report.counts()

