"""End to end against the emulator: a partner completes the cloud technical track.

One step is recorded locally (`record step-complete`), the certification of the other is
created in Salesforce; `sync --once` (the service layer's ``sync_once``) reads it in, the
programs stage completes the step, the track, enters the partner in a segment and moves it up
the ladder, a segment_entered trigger awards points, and the outbox writes points, tier and the
local certification back: read again from the org with simple-salesforce.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connector.emulator.testing import EmulatorHandle
from connector.programs.facts import MEMBERSHIP, facts_for_partners
from connector.programs.local import record_step
from connector.programs.operations import next_step_key
from connector.programs.views import eligibility, partner_report
from connector.service import open_runtime, sync_once
from connector.store.models import entity_table
from connector.store.stream import CHANGE_LOG
from connector.store.types import utcnow

from prmfixtures import sf_client

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARTNER = "Litware Consulting"  # demo seed: Active, Registered, a Reseller, no certification
TRIGGERS = """\
triggers:
  - id: welcome-cloud-certified
    entity: partner
    on: [segment_entered]
    segment: cloud-certified
    when: partner.certifications_in('cloud-technical') >= 2
    actions:
      - award_points: {points: 100, reason: "Joined cloud-certified"}
"""




def _config(tmp_path: Path) -> Path:
    for name in ("connector.yaml", "mapping.yaml", "programs.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text())
    (tmp_path / "triggers.yaml").write_text(TRIGGERS)
    path = tmp_path / "connector.yaml"
    # the emulator stamps a change as it commits it: nothing arrives late, so no skew to wait
    path.write_text(re.sub(r"(?m)^  signpost_skew_seconds: .*$", "  signpost_skew_seconds: 0",
                           path.read_text()))
    return path


def test_a_partner_completes_a_track_enters_a_segment_and_moves_up_a_tier(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Local step + Salesforce certification -> track, segment, incentive, Silver, write-back."""
    env = {**emulator.connector_env(), "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    rt = open_runtime(_config(tmp_path), env=env)
    assert rt.programs is not None
    sync_once(rt)  # backfill
    partner = entity_table("partner")
    with rt.engine.connect() as conn:
        pid, sf_id = conn.execute(select(partner.c.id, partner.c.sf_id).where(
            partner.c.name == PARTNER)).one()
        before = eligibility(conn, rt.programs, pid, utcnow())
    # a Reseller (Partner_Type__c read by the sync) may see the first-deal spiff, nothing else
    assert [i["incentive"] for i in before["incentives"]] == ["first-deal-spiff"]

    # out of order: the architect certification needs the fundamentals first
    with rt.engine.connect() as conn:
        report = partner_report(conn, rt.programs, pid, utcnow())
    tech = next(t for t in report["tracks"] if t["track"] == "cloud-technical")
    assert tech["next_step"] == "cloud-fundamentals" and tech["status"] == "enrolled"

    done = record_step(rt.engine, rt.programs, PARTNER, "cloud-fundamentals", by="alice",
                       now=utcnow())
    assert done["points"] == 200
    admin = sf_client(emulator)
    admin.Partner_Certification__c.create({
        "Name": "Cloud Architect", "Partner__c": sf_id,
        "Completed_Date__c": date.today().isoformat()})
    run = sync_once(rt)
    sync_once(rt)  # our writes come back as echoes and fire nothing
    programs = run.stages["programs"]
    assert programs["steps_completed"] == 1 and programs["segment_events"] == 1
    assert programs["tier_changes"] == 1
    assert run.stages["triggers"]["fired"] == 1, run.stages["triggers"]

    with rt.engine.connect() as conn:
        report = partner_report(conn, rt.programs, pid, utcnow())
        after = eligibility(conn, rt.programs, pid, utcnow())
    rt.close()
    tech = next(t for t in report["tracks"] if t["track"] == "cloud-technical")
    assert (tech["status"], [s["source"] for s in tech["steps"]]) == (
        "completed", ["local", "salesforce"])
    assert report["points"]["balance"] == 700  # 200 + 400 + 100 from the trigger
    causes = [e["cause"] for e in report["points"]["ledger"]]
    assert causes[:2] == ["person:alice", f"certification:{causes[1].split(':')[1]}"]
    assert causes[2].startswith(f"welcome-cloud-certified|partner|{pid}|segment_entered")
    assert report["segments"] == ["cloud-certified"]
    assert report["tiers"]["partner-network"]["level"] == "Silver"
    assert "cloud-launch-mdf" in [i["incentive"] for i in after["incentives"]]

    account = admin.Account.get(sf_id)
    assert account["Partner_Points__c"] == 700
    assert account["Partner_Tier__c"] == "Silver"
    assert account["Certifications__c"] == 2
    member = admin.query(
        f"SELECT Level.Name FROM ChannelProgramMember WHERE PartnerId = '{sf_id}'")["records"]
    assert member[0]["Level"]["Name"] == "Silver"
    certs = admin.query(
        "SELECT Name, PRM_Key__c FROM Partner_Certification__c "
        f"WHERE Partner__c = '{sf_id}' ORDER BY Name")["records"]
    assert [c["Name"] for c in certs] == ["Cloud Architect", "Cloud Fundamentals"]
    assert certs[1]["PRM_Key__c"].startswith("PRM-CERT-")
    # the channel manager was asked for the architect certification, which is now done
    tasks = admin.query(
        "SELECT Subject, Status, WhatId FROM Task "
        f"WHERE PRM_Key__c = '{next_step_key(pid, 'cloud-architect')}'")["records"]
    assert [(t["Subject"], t["Status"], t["WhatId"]) for t in tasks] == [
        (f"{PARTNER}: next step Cloud Architect", "Completed", sf_id)]


SEGMENT = """\
  emea-resellers:
    description: Resellers and distributors in three EMEA countries.
    when: >
      partner.country in ['United Kingdom', 'Germany', 'France']
      && partner.type in ['Reseller', 'Distributor']
"""


def test_a_sync_cycle_reads_type_country_and_industry_and_a_segment_uses_them(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    """Partner_Type__c, BillingCountry and Industry land in the store's columns; a segment on
    partner.country and partner.type holds exactly the partners the org's values put in it,
    and a country edited in Salesforce moves a partner into it on the next cycle."""
    env = {**emulator.connector_env(), "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"}
    cfg = _config(tmp_path)
    programs = tmp_path / "programs.yaml"
    programs.write_text(programs.read_text().replace("segments:\n", "segments:\n" + SEGMENT, 1))
    rt = open_runtime(cfg, env=env)
    assert rt.programs is not None and "emea-resellers" in rt.programs.segments
    admin = sf_client(emulator)
    org = {r["Id"]: (r["Partner_Type__c"], r["BillingCountry"], r["Industry"])
           for r in admin.query_all("SELECT Id, Partner_Type__c, BillingCountry, Industry "
                                    "FROM Account WHERE IsPartner = true")["records"]}
    assert len({t for t, _, _ in org.values()}) >= 4  # the seed spreads the values

    def expected() -> set[str]:
        return {sf for sf, (t, c, _) in org.items()
                if c in ("United Kingdom", "Germany", "France") and t in ("Reseller",
                                                                          "Distributor")}

    def members(conn: Any) -> set[str]:
        partner = entity_table("partner")
        return set(conn.execute(
            select(partner.c.sf_id).select_from(MEMBERSHIP.join(
                partner, partner.c.id == MEMBERSHIP.c.partner_id))
            .where(MEMBERSHIP.c.segment == "emea-resellers",
                   MEMBERSHIP.c.left_at.is_(None))).scalars())

    try:
        sync_once(rt)
        partner = entity_table("partner")
        with rt.engine.connect() as conn:
            stored = {sf: (t, c, i) for sf, t, c, i in conn.execute(select(
                partner.c.sf_id, partner.c.partner_type, partner.c.billing_country,
                partner.c.industry))}
            assert stored == org
            assert members(conn) == expected() != set()
            facts = facts_for_partners(conn, rt.programs, utcnow().date())
            by_sf = {f["sf_id"]: f for f in facts.values()}
            assert {sf: (f["type"], f["country"], f["industry"])
                    for sf, f in by_sf.items()} == org

        # a reseller outside EMEA moves to Germany in Salesforce: the next cycle puts it in
        mover = next(sf for sf, (t, c, _) in org.items()
                     if t == "Reseller" and c not in ("United Kingdom", "Germany", "France"))
        admin.Account.update(mover, {"BillingCountry": "Germany"})
        org[mover] = (org[mover][0], "Germany", org[mover][2])
        run = sync_once(rt)
        assert run.stages["programs"]["segment_events"] == 1
        with rt.engine.connect() as conn:
            assert mover in members(conn) and members(conn) == expected()
            entered = conn.execute(select(CHANGE_LOG.c.sf_id, CHANGE_LOG.c.new).where(
                CHANGE_LOG.c.op == "segment_entered")).all()
        assert [(sf, new["segment"]) for sf, new in entered
                if new["segment"] == "emea-resellers"][-1] == (mover, "emea-resellers")
    finally:
        rt.close()
