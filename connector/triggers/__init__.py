"""Partner triggers: CEL rules evaluated on every change, their actions, audit and schedules.

``load_triggers`` reads triggers.yaml (checked against mapping.yaml); ``run_triggers`` consumes
the change log; ``run_scheduled`` / ``run_scheduled_rule`` run cron rules; ``TriggersStage`` is
the step ``sync`` runs after inbound; ``rule_stats`` feeds ``status``.
"""

from connector.triggers.audit import read_log, rule_stats
from connector.triggers.backtest import backtest, try_record
from connector.triggers.consumer import CONSUMER, TriggersReport, run_triggers
from connector.triggers.facts import PARTNER_FACTS, FactRegistry
from connector.triggers.loader import load_triggers, loads_triggers
from connector.triggers.scheduled import (
    last_slot,
    run_scheduled,
    run_scheduled_for,
    run_scheduled_rule,
    scheduled_jobs,
)
from connector.triggers.spec import Rule, RuleSet, TriggerSettings
from connector.triggers.stage import TriggersStage

__all__ = [
    "CONSUMER",
    "PARTNER_FACTS",
    "FactRegistry",
    "Rule",
    "RuleSet",
    "TriggerSettings",
    "TriggersReport",
    "TriggersStage",
    "backtest",
    "last_slot",
    "load_triggers",
    "loads_triggers",
    "read_log",
    "rule_stats",
    "run_scheduled",
    "run_scheduled_for",
    "run_scheduled_rule",
    "run_triggers",
    "scheduled_jobs",
    "try_record",
]
