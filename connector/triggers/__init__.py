"""Partner triggers: CEL rules evaluated on every change, their actions, audit and schedules.

``load_triggers`` reads triggers.yaml (checked against mapping.yaml); ``run_triggers`` consumes
the change log; ``run_scheduled`` / ``run_scheduled_rule`` run cron rules; ``TriggersStage`` is
the step ``sync`` runs after inbound; ``rule_stats`` feeds ``status``.

The names below are imported on first use (PEP 562): a module that needs one part, such as
``connector.triggers.spec``, does not pull in the consumer, the outbox and the Salesforce
client with it (`partner eligible` and `segments preview` start faster).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.lazy import lazy_names

if TYPE_CHECKING:
    from connector.triggers.audit import read_log, rule_stats
    from connector.triggers.backtest import backtest, try_record
    from connector.triggers.consumer import CONSUMER, TriggersReport, run_triggers
    from connector.triggers.loader import load_triggers, loads_triggers
    from connector.triggers.scheduled import (
        last_slot,
        run_scheduled,
        run_scheduled_rule,
        scheduled_jobs,
    )
    from connector.triggers.spec import Rule, RuleSet, TriggerSettings
    from connector.triggers.stage import TriggersStage

_HOME = {
    "read_log": "audit", "rule_stats": "audit",
    "backtest": "backtest", "try_record": "backtest",
    "CONSUMER": "consumer", "TriggersReport": "consumer", "run_triggers": "consumer",
    "load_triggers": "loader", "loads_triggers": "loader",
    "last_slot": "scheduled", "run_scheduled": "scheduled",
    "run_scheduled_rule": "scheduled", "scheduled_jobs": "scheduled",
    "Rule": "spec", "RuleSet": "spec", "TriggerSettings": "spec",
    "TriggersStage": "stage",
}

__all__ = [
    "CONSUMER",
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
    "run_scheduled_rule",
    "run_triggers",
    "scheduled_jobs",
    "try_record",
]


__getattr__ = lazy_names(__name__, _HOME)
