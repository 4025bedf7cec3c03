"""Write-back to Salesforce: outbox items written with the change that caused them, dispatched
in batches (sObject Collections, Bulk API 2.0) with per-record results and dead letters."""

from connector.outbox.dispatcher import Dispatcher, DispatchReport, dispatch
from connector.outbox.items import OutboxWrite, enqueue, outbox_id
from connector.outbox.stage import OutboxStage

__all__ = ["DispatchReport", "Dispatcher", "OutboxStage", "OutboxWrite", "dispatch", "enqueue",
           "outbox_id"]
