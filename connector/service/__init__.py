"""The service layer: the composition root the CLI and the daemon share.

``open_runtime`` loads config and opens the store; ``run_lock`` takes the store's
single-writer lock; ``sync_once``, ``backfill`` and ``reconcile`` run the inbound core and
record each run; ``pipeline_stages`` lists the steps a cycle runs after inbound.
"""

from connector.service.lock import STORE_LOCK, LeaseLost, RunLocked, describe_holder, run_lock
from connector.service.runs import (
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
from connector.service.stages import Stage, pipeline_stages

__all__ = [
    "STORE_LOCK",
    "Connector",
    "LeaseLost",
    "RunLocked",
    "RunReport",
    "Runtime",
    "Stage",
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
    "stops_the_cycle",
    "sync_once",
]
