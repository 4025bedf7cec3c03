"""End to end against the emulator: a partner user registers deals; `sync --once` acts.

The partner user creates registrations through the REST API; a sync cycle (the service layer's
``sync_once``, as `sync --once` runs it) polls them into the store and its triggers stage
approves one and routes the other, changing the local rows and queueing the Salesforce updates
in the outbox. The backfill cycle before fires nothing.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.emulator.testing import EmulatorHandle
from connector.service import open_runtime, sync_once
from connector.store.models import entity_table

from .trigtools import ROOT
from prmfixtures import sf_client

pytestmark = pytest.mark.slow




def _config(emu: EmulatorHandle, tmp_path: Path) -> Path:
    for name in ("connector.yaml", "mapping.yaml", "triggers.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text())
    path = tmp_path / "connector.yaml"
    path.write_text(re.sub(r"(?m)^  signpost_skew_seconds: .*$", "  signpost_skew_seconds: 0",
                           path.read_text()))
    return path


def test_sync_once_approves_or_routes_partner_registrations(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """A certified partner's new registration is approved; one for a customer another partner
    registered first is routed, naming that registration; backfill fired nothing."""
    env = {**emulator.connector_env(), "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    rt = open_runtime(_config(emulator, tmp_path), env=env)
    engine = rt.engine
    backfilled = sync_once(rt).stages["triggers"]
    assert backfilled["changes"] > 0 and backfilled["fired"] == 0

    admin = sf_client(emulator)
    certified = admin.query(
        "SELECT Partner__c FROM Partner_Certification__c ORDER BY Partner__c")["records"]
    holders = sorted({r["Partner__c"] for r in certified})
    first = admin.query(
        "SELECT Name, Partner__c FROM Deal_Registration__c WHERE Status__c = 'Approved' "
        "AND End_Customer_Name__c = 'Acme Corporation'")["records"][0]
    other = next(p for p in holders if p != first["Partner__c"])
    partner_user = sf_client(emulator, "partner")
    today = date.today().isoformat()
    fresh = partner_user.Deal_Registration__c.create({
        "Name": "DR-NEW-1", "Partner__c": other, "End_Customer_Name__c": "Brand New Customer Ltd",
        "End_Customer_Domain__c": "brand-new.example.org", "Amount__c": 42000.0,
        "Status__c": "Submitted", "Registered_Date__c": today})["id"]
    clash = partner_user.Deal_Registration__c.create({
        "Name": "DR-NEW-2", "Partner__c": other, "End_Customer_Name__c": "ACME Corp.",
        "Amount__c": 1000.0, "Status__c": "Submitted", "Registered_Date__c": today})["id"]

    report = sync_once(rt).stages["triggers"]
    rt.close()

    assert report["fired"] == 2
    reg = entity_table("deal_registration")
    with engine.connect() as conn:
        rows = {r["sf_id"]: r for r in conn.execute(
            select(reg).where(reg.c.sf_id.in_([fresh, clash]))).mappings()}
        outbox = conn.execute(select(entity_table("partner").metadata.tables["outbox_item"])
                              ).mappings().all()
    assert rows[fresh]["status"] == "Approved"
    assert rows[clash]["status"] == "Pending Review"
    assert first["Name"] in rows[clash]["decision_reason"]
    writes = {i["sf_id"]: i["payload"]["fields"] for i in outbox
              if i["sobject"] == "Deal_Registration__c"}
    assert writes[fresh]["Status__c"] == "Approved"
    assert writes[clash]["Status__c"] == "Pending Review"
    assert first["Name"] in writes[clash]["Decision_Reason__c"]
