"""The service layer: the composition root the CLI and the daemon share.

``open_runtime`` loads config and opens the store; ``run_lock`` takes the store's
single-writer lock; ``sync_once``, ``backfill`` and ``reconcile`` run the inbound core and
record each run (``recorded_run``; a push pass records its own with ``apply_pushed``);
``pipeline_stages`` lists the steps a cycle runs after inbound.
"""

from connector.service.lock import STORE_LOCK, LeaseLost, RunLocked, describe_holder, run_lock
from connector.service.runs import (
    ApplyRows,
    RunReport,
    apply_pushed,
    backfill,
    pick_entities,
    reconcile,
    recorded_run,
    stops_the_cycle,
    sync_once,
)
from connector.service.runtime import Connector, Runtime, open_runtime, open_store
from connector.service.stages import Stage, StageContext, pipeline_stages, stage_context

__all__ = [
    "STORE_LOCK",
    "ApplyRows",
    "Connector",
    "LeaseLost",
    "RunLocked",
    "RunReport",
    "Runtime",
    "Stage",
    "StageContext",
    "apply_pushed",
    "backfill",
    "describe_holder",
    "open_runtime",
    "open_store",
    "pick_entities",
    "pipeline_stages",
    "reconcile",
    "recorded_run",
    "run_lock",
    "stage_context",
    "stops_the_cycle",
    "sync_once",
]
