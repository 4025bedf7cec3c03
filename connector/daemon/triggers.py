"""Rules in the daemon: scheduled triggers as jobs, and reloading the rule environment.

One cron job per rule with a ``schedule:`` in triggers.yaml, run on the store writer like
every other job; each run reads the runtime's rule environment (``rt.rules``), as the
programs and triggers stages do, so the daemon holds one set of rules. ``reload_rules`` is
called by the writer before its work: when triggers.yaml or programs.yaml changed, the whole
environment is built again and the change logged once (a file that no longer loads is
logged once too, and the rules before stay in use).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from connector.errors import ConfigError
from connector.logs import get_logger

if TYPE_CHECKING:
    from connector.service import Runtime

__all__ = ["reload_rules", "scheduled_jobs"]

log = get_logger("connector.daemon.triggers")


def reload_rules(rt: Runtime) -> bool:
    """Rebuild ``rt``'s rule environment if a rule file changed; True when it was."""
    try:
        reloaded = rt.reload_rules()
    except ConfigError as err:
        log.error("daemon.rules_reload_failed", error=str(err).splitlines()[0],
                  problems=len(err.problems), kept="the rules loaded before")
        return False
    if reloaded:
        rules = rt.rules
        log.info("daemon.rules_reloaded", triggers=len(rules.rules.rules),
                 files=[p for p, _, _ in rules.stamps],
                 fiscal_year_start_month=rules.fiscal_year_start_month)
    return reloaded


def scheduled_jobs(rt: Runtime) -> Sequence[tuple[str, str, Callable[[], object]]]:
    """(work kind, cron, run) for each scheduled rule; none when triggers are not installed."""
    try:
        from connector.triggers import run_scheduled
    except ImportError:  # a build without the triggers package: polling and push still run
        return ()
    jobs: list[tuple[str, str, Callable[[], object]]] = []
    for rule in rt.rules.rules.scheduled():
        if rule.schedule is None:
            continue

        def run(rule_id: str = rule.id) -> object:
            reload_rules(rt)
            rules = rt.rules.rules  # the environment now: a reload is seen
            if rules.get(rule_id) is None or rules.get(rule_id) not in rules.scheduled():
                log.warning("daemon.scheduled_trigger_gone", rule=rule_id,
                            hint="removed from triggers.yaml; restart to drop its schedule")
                return None
            report = run_scheduled(rt.engine, rt.spec, rules, rt.clock, rule_id=rule_id)
            log.info("daemon.scheduled_trigger_done", rule=rule_id)
            return report

        jobs.append((f"trigger:{rule.id}", rule.schedule, run))
    return jobs
