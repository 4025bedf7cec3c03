"""Helpers for write-back tests: registrations made as the partner user, synced, approved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simple_salesforce import Salesforce
from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, enqueue
from connector.sync.context import SyncContext

from prmfixtures import settings_for, sf_client, sync_context
from sync.orgtools import chunks

__all__ = ["approvals", "context", "create_registrations", "org_registrations"]


def context(emu: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path, **sync: Any
            ) -> tuple[SyncContext, Any]:
    """A sync context (integration user) and the full settings against ``emu``."""
    engine, url = store
    settings = settings_for(emu, url, tmp_path, signpost_skew_seconds=0, lag_seconds=0, **sync)
    return sync_context(settings, engine), settings


def create_registrations(emu: EmulatorHandle, n: int, *, user: str = "partner") -> list[str]:
    """``n`` Submitted registrations created by ``user``; their Ids."""
    sf = sf_client(emu, user)
    partner = sf_client(emu).query("SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")
    partner_id = partner["records"][0]["Id"]
    ids: list[str] = []
    for batch in chunks(list(range(n)), 200):
        body = {
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Deal_Registration__c"},
                    "Name": f"REG-{i:05d}",
                    "Partner__c": partner_id,
                    "End_Customer_Name__c": f"Customer {i}",
                    "End_Customer_Domain__c": f"customer{i}.example",
                    "Amount__c": 1000.0 + i,
                    "Status__c": "Submitted",
                }
                for i in batch
            ],
        }
        results = sf.restful("composite/sobjects", method="POST", json=body)
        assert all(r["success"] for r in results), results[:3]
        ids.extend(r["id"] for r in results)
    return ids


def approvals(ids: list[str], reason: str = "Certified partner", cause: str = "t") -> list[
        OutboxWrite]:
    """One approval write per registration."""
    return [
        OutboxWrite(
            sobject="Deal_Registration__c",
            operation="update",
            sf_id=i,
            fields={"Status__c": "Approved", "Decision_Reason__c": reason},
            cause=f"{cause}:{i}",
            entity="deal_registration",
        )
        for i in ids
    ]


def queue(engine: Engine, writes: list[OutboxWrite]) -> None:
    """Enqueue ``writes`` in one transaction."""
    with engine.begin() as conn:
        enqueue(conn, writes)


def org_registrations(sf: Salesforce, ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every registration in the org by Id (Status, reason, who changed it last)."""
    rows = sf.query_all_iter(
        "SELECT Id, Status__c, Decision_Reason__c, LastModifiedById, SystemModstamp "
        "FROM Deal_Registration__c"
    )
    out = {r["Id"]: r for r in rows}
    return {k: v for k, v in out.items() if ids is None or k in ids}
