"""The triggers step of a sync cycle, as a stage of the service layer's pipeline."""

from __future__ import annotations

from typing import Any

from connector.pipeline import StageContext
from connector.triggers.consumer import run_triggers
from connector.triggers.loader import load_triggers
from connector.triggers.spec import RuleSet

__all__ = ["TriggersStage"]


class TriggersStage:
    """Consume the change log with the rules of triggers.yaml (loaded once per stage)."""

    name = "triggers"

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules

    @classmethod
    def for_runtime(cls, rt: Any) -> TriggersStage:
        """The stage with ``rt``'s triggers.yaml loaded now (a bad file raises ConfigError)."""
        return cls(load_triggers(rt.settings.triggers_path, rt.spec))

    def run(self, ctx: StageContext) -> dict[str, int]:
        """Run the consumer to the end of the change log; the counts go in the run report."""
        if self.rules is None:
            self.rules = load_triggers(ctx.settings.triggers_path, ctx.spec)
        report = run_triggers(ctx.engine, ctx.spec, self.rules, ctx.clock, run_id=ctx.run_id)
        return report.counts()

