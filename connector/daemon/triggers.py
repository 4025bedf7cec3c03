"""Scheduled triggers as daemon jobs: one cron job per rule with a ``schedule:`` in
triggers.yaml, run on the store writer like every other job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from connector.logs import get_logger

if TYPE_CHECKING:
    from connector.service import Runtime

__all__ = ["scheduled_jobs"]

log = get_logger("connector.daemon.triggers")


def scheduled_jobs(rt: Runtime) -> Sequence[tuple[str, str, Callable[[], object]]]:
    """(work kind, cron, run) for each scheduled rule; none when triggers are not installed."""
    try:
        from connector.triggers import load_triggers, run_scheduled
    except ImportError:  # a build without the triggers package: polling and push still run
        return ()
    rules = load_triggers(rt.settings.triggers_path, rt.spec)
    jobs: list[tuple[str, str, Callable[[], object]]] = []
    for rule in rules.scheduled():
        if rule.schedule is None:
            continue

        def run(rule_id: str = rule.id) -> object:
            report = run_scheduled(rt.engine, rt.spec, rules, rt.clock, rule_id=rule_id)
            log.info("daemon.scheduled_trigger_done", rule=rule_id)
            return report

        jobs.append((f"trigger:{rule.id}", rule.schedule, run))
    return jobs
