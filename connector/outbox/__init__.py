"""Write-back to Salesforce: outbox items written with the change that caused them, dispatched
in batches (sObject Collections, Bulk API 2.0) with per-record results and dead letters.

The names below are imported on first use (PEP 562): queueing items (``connector.outbox.items``)
does not import the dispatcher and the Salesforce client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.lazy import lazy_names

if TYPE_CHECKING:
    from connector.outbox.dispatcher import Dispatcher, DispatchReport, dispatch
    from connector.outbox.items import OutboxWrite, enqueue, outbox_id
    from connector.outbox.stage import OutboxStage

_HOME = {
    "Dispatcher": "dispatcher", "DispatchReport": "dispatcher", "dispatch": "dispatcher",
    "OutboxWrite": "items", "enqueue": "items", "outbox_id": "items",
    "OutboxStage": "stage",
}

__all__ = ["DispatchReport", "Dispatcher", "OutboxStage", "OutboxWrite", "dispatch", "enqueue",
           "outbox_id"]


__getattr__ = lazy_names(__name__, _HOME)
