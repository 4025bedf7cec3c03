"""One scenario per built-in rule of config/triggers.yaml, on the store inbound sync fills.

Each asserts the local effect and the queued outbox write (the dispatcher sends it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from connector.triggers import run_scheduled

from .trigtools import Store, days_ago


def _payloads(store: Store, sobject: str) -> list[dict]:
    return [i["payload"] for i in store.outbox() if i["sobject"] == sobject]


def _certified_partner(store: Store, **kw: object) -> tuple[str, int]:
    levels = store.program()
    sf, pid = store.partner(level="Registered", levels=levels, **kw)
    store.put("certification", {"name": "Sales Cert", "partner": pid,
                                "completed_date": days_ago(30)}, log=False)
    return sf, pid


def test_safe_registration_is_approved_with_its_reason(engine: Engine) -> None:
    """A Submitted registration of an Active certified partner is Approved and written back."""
    store = Store(engine)
    _, pid = _certified_partner(store)
    reg_sf, reg = store.put("deal_registration", {
        "name": "DR-0001", "partner": pid, "end_customer_name": "Globex Corp",
        "amount": 120000.0, "status": "Submitted", "registered_date": days_ago(1)})
    report = store.run(store.shipped_rules())
    assert report.fired == 1
    row = store.row("deal_registration", reg)
    assert row["status"] == "Approved"
    assert row["decision_reason"] == "Certified partner, no conflicting registration"
    [item] = [i for i in store.outbox() if i["sobject"] == "Deal_Registration__c"]
    assert item["sf_id"] == reg_sf and item["operation"] == "update"
    assert item["payload"]["fields"] == {
        "Status__c": "Approved", "Decision_Reason__c": "Certified partner, no conflicting "
                                                      "registration"}


def test_conflicting_registration_is_routed_naming_the_first(engine: Engine) -> None:
    """The same customer registered earlier by another partner routes the later one."""
    store = Store(engine)
    _, first_partner = _certified_partner(store)
    _, second_partner = store.partner("Initech Resellers")
    store.put("certification", {"name": "C", "partner": second_partner}, log=False)
    store.put("deal_registration", {
        "name": "DR-FIRST", "partner": first_partner, "end_customer_name": "ACME, Inc.",
        "status": "Approved", "amount": 5000.0, "registered_date": days_ago(20)}, log=False)
    _, reg = store.put("deal_registration", {
        "name": "DR-LATE", "partner": second_partner, "end_customer_name": "Acme Incorporated",
        "amount": 5000.0, "status": "Submitted", "registered_date": days_ago(2)})
    store.run(store.shipped_rules())
    row = store.row("deal_registration", reg)
    assert row["status"] == "Pending Review"
    assert "DR-FIRST" in row["decision_reason"]
    assert row["decision_reason"].startswith("Needs a channel manager; conflicts with")


def test_registration_conflict_by_domain_outside_the_window_does_not_count(
    engine: Engine,
) -> None:
    """Same domain counts inside the 90-day window; an older registration does not."""
    store = Store(engine)
    _, p1 = _certified_partner(store)
    _, p2 = store.partner("Other Partner")
    store.put("certification", {"name": "C", "partner": p2}, log=False)
    store.put("deal_registration", {
        "name": "DR-OLD", "partner": p1, "end_customer_domain": "https://www.hooli.com/",
        "status": "Approved", "registered_date": days_ago(200)}, log=False)
    _, reg = store.put("deal_registration", {
        "name": "DR-NEW", "partner": p2, "end_customer_domain": "buyer@hooli.com",
        "end_customer_name": "Hooli XYZ", "amount": 10.0, "status": "Submitted",
        "registered_date": days_ago(1)})
    store.run(store.shipped_rules())
    assert store.row("deal_registration", reg)["status"] == "Approved"


def test_registration_expiry_runs_nightly_once_per_slot(engine: Engine) -> None:
    """An Approved registration past its expiration date becomes Expired, once per slot."""
    store = Store(engine)
    _, pid = store.partner()
    reg_sf, reg = store.put("deal_registration", {
        "name": "DR-9", "partner": pid, "status": "Approved",
        "expiration_date": days_ago(1)}, log=False)
    _, fresh = store.put("deal_registration", {
        "name": "DR-10", "partner": pid, "status": "Approved",
        "expiration_date": days_ago(-30)}, log=False)
    rules = store.shipped_rules()
    first = run_scheduled(engine, store.spec, rules, store.clock,
                          rule_id="registration-expiry")
    again = run_scheduled(engine, store.spec, rules, store.clock,
                          rule_id="registration-expiry")
    assert (first.fired, again.fired) == (1, 0)
    assert store.row("deal_registration", reg)["status"] == "Expired"
    assert store.row("deal_registration", fresh)["status"] == "Approved"
    fields = [p["fields"] for p in _payloads(store, "Deal_Registration__c")]
    assert {"Status__c": "Expired"} in fields
    assert all(i["sf_id"] == reg_sf for i in store.outbox())


def test_certifications_move_the_partner_up_and_award_points(engine: Engine) -> None:
    """One certification makes Silver, three make Gold; each is worth 100 points."""
    store = Store(engine)
    levels = store.program()
    partner_sf, pid = store.partner(level="Registered", levels=levels)
    rules = store.shipped_rules()
    store.put("certification", {"name": "C1", "partner": pid})
    store.run(rules)
    assert store.row("partner", pid)["tier"] == "Silver"
    for name in ("C2", "C3"):
        store.put("certification", {"name": name, "partner": pid})
    store.run(rules)
    partner = store.row("partner", pid)
    assert (partner["tier"], partner["points"]) == ("Gold", 300.0)
    [member] = store.rows("membership")
    assert member["level"] == levels["Gold"]
    gold_sf = store.row("level", levels["Gold"])["sf_id"]
    member_writes = [p["fields"] for p in _payloads(store, "ChannelProgramMember")]
    assert member_writes[-1] == {"LevelId": gold_sf}
    account = [(i["sf_id"], i["payload"]["fields"]) for i in store.outbox()
               if i["sobject"] == "Account"]
    assert (partner_sf, {"Partner_Tier__c": "Gold"}) in account
    assert (partner_sf, {"Partner_Points__c": 300.0}) in account


def test_a_tier_downgrade_waits_for_the_grace_period(engine: Engine) -> None:
    """set_tier to a lower level is pending until downgrade_grace_days have passed."""
    store = Store(engine)
    levels = store.program()
    _, pid = store.partner(level="Gold", levels=levels, tier="Gold")
    rules = store.rules("""
triggers:
  - id: demote
    entity: partner
    on: [updated]
    when: new.status == 'Inactive'
    actions: [{set_tier: {level: Silver}}]
""")
    store.put("partner", {"status": "Inactive"}, sf_id=store.row("partner", pid)["sf_id"])
    report = store.run(rules)
    assert report.fired == 1 and store.row("partner", pid)["tier"] == "Gold"
    store.now += timedelta(days=31)
    later = store.run(rules)
    assert later.downgrades == 1
    assert store.row("partner", pid)["tier"] == "Silver"
    last = store.decisions()[-1]
    assert (last["trigger_id"], last["local_id"], last["outcome"]) == ("demote", pid, "fired")
    assert store.rows("membership")[0]["level"] == levels["Silver"]


def test_a_won_deal_awards_points_once(engine: Engine) -> None:
    """Deal won -> 50 points; a later edit of the won deal awards nothing more."""
    store = Store(engine)
    _partner_sf, pid = store.partner(points=10.0)
    deal_sf, _ = store.put("deal", {"name": "Big", "partner": pid, "amount": 1000.0,
                                    "stage": "Negotiation", "is_won": False})
    rules = store.shipped_rules()
    store.run(rules)
    store.put("deal", {"stage": "Closed Won", "is_won": True, "is_closed": True},
              sf_id=deal_sf)
    store.put("deal", {"amount": 1200.0}, sf_id=deal_sf)
    store.run(rules)
    assert store.row("partner", pid)["points"] == 60.0
    assert [p["fields"] for p in _payloads(store, "Account")] == [{"Partner_Points__c": 60.0}]


def _won(store: Store, pid: int, amount: float, day: date) -> None:
    store.put("deal", {"name": f"Deal {day}", "partner": pid, "amount": amount,
                       "stage": "Closed Won", "is_won": True, "is_closed": True,
                       "close_date": day}, log=False)


def test_quarterly_volume_releases_mdf_once_per_quarter(engine: Engine) -> None:
    """600,000 won last quarter -> 12,000 MDF at the quarter's start, only once."""
    store = Store(engine)
    partner_sf, pid = store.partner()
    _, budget = store.put("mdf_budget", {"title": "FY2027 Co-op", "amount": 1e6,
                                         "start_date": date(2026, 10, 1),
                                         "end_date": date(2027, 9, 30)}, log=False)
    _won(store, pid, 400000.0, date(2026, 11, 15))
    _won(store, pid, 200000.0, date(2026, 12, 20))
    _won(store, pid, 999999.0, date(2026, 9, 30))  # the quarter before: not counted
    store.now = datetime(2027, 1, 1, 2, 0, tzinfo=UTC)
    rules = store.shipped_rules()
    first = run_scheduled(engine, store.spec, rules, store.clock, rule_id="quarterly-mdf")
    store.now += timedelta(days=3)  # a rerun in the same quarter (say, a missed slot)
    again = run_scheduled(engine, store.spec, rules, store.clock, rule_id="quarterly-mdf")
    store.now = datetime(2027, 2, 1, 2, 0, tzinfo=UTC)  # a new slot, the same quarter
    later = run_scheduled(engine, store.spec, store.rules("""
triggers:
  - id: quarterly-mdf
    entity: partner
    schedule: "0 2 1 * *"
    when: partner.closed_won_last_quarter >= 500000.0
    actions:
      - allocate_mdf: {amount: "partner.closed_won_last_quarter * 0.02", once_per: quarter}
"""), store.clock)
    assert (first.fired, again.fired, again.already_fired) == (1, 0, 1)
    assert later.fired == 1 and "already allocated for FY2027-Q1" in str(
        store.decisions()[-1]["actions"])
    [alloc] = store.rows("mdf_allocation")
    assert (alloc["amount"], alloc["partner"], alloc["budget"]) == (12000.0, pid, budget)
    [item] = [i for i in store.outbox() if i["sobject"] == "PartnerFundAllocation"]
    assert item["operation"] == "upsert"
    assert item["payload"]["external_id"] == alloc["prm_key"]
    assert item["payload"]["fields"]["Amount"] == 12000.0
    assert item["payload"]["fields"]["ChannelPartnerId"] == partner_sf


def test_two_quarters_of_decline_make_a_task_for_the_channel_manager(engine: Engine) -> None:
    """300k, 200k, 100k in the last three quarters -> one High task, owner the manager."""
    store = Store(engine)
    partner_sf, pid = store.partner()
    _, steady = store.partner("Steady Partner")
    _won(store, pid, 300000.0, date(2026, 5, 1))
    _won(store, pid, 200000.0, date(2026, 8, 1))
    _won(store, pid, 100000.0, date(2026, 11, 1))
    _won(store, steady, 100000.0, date(2026, 11, 1))
    store.now = datetime(2027, 1, 1, 3, 0, tzinfo=UTC)
    report = run_scheduled(store.engine, store.spec, store.shipped_rules(), store.clock,
                           rule_id="two-quarter-decline")
    assert report.fired == 1
    [task] = store.rows("task")
    assert task["owner"] == "005CHANNELMGR00001" and task["priority"] == "High"
    assert task["what"] == partner_sf and task["activity_date"] == date(2027, 1, 15)
    [item] = [i for i in store.outbox() if i["sobject"] == "Task"]
    assert item["operation"] == "upsert" and item["payload"]["fields"]["OwnerId"] == \
        "005CHANNELMGR00001"


def test_agreement_signed_starts_onboarding(engine: Engine) -> None:
    """An agreement date set on a partner creates one onboarding task."""
    store = Store(engine)
    sf, _pid = store.partner(status="Prospect", log=True)
    rules = store.shipped_rules()
    store.run(rules)
    assert store.rows("task") == []
    store.put("partner", {"agreement_signed_date": days_ago(0)}, sf_id=sf)
    store.put("partner", {"website": "https://acme.example"}, sf_id=sf)
    store.run(rules)
    [task] = store.rows("task")
    assert task["subject"].startswith("Agreement signed")
    assert [p["fields"]["Subject"] for p in _payloads(store, "Task")] == [task["subject"]]


def test_small_mdf_request_is_approved_within_remaining_funds(engine: Engine) -> None:
    """A 5,000 request with 20,000 allocated is approved; a 15,000 one is left alone."""
    store = Store(engine)
    _, pid = store.partner()
    store.put("mdf_allocation", {"title": "A", "partner": pid, "amount": 20000.0}, log=False)
    _req_sf, req = store.put("mdf_request", {"title": "Webinar", "partner": pid,
                                            "requested_amount": 5000.0, "status": "Submitted"})
    _, big = store.put("mdf_request", {"title": "Expo", "partner": pid,
                                       "requested_amount": 15000.0, "status": "Submitted"})
    store.run(store.shipped_rules())
    assert (store.row("mdf_request", req)["status"], store.row("mdf_request", req)["amount"]) \
        == ("Approved", 5000.0)
    assert store.row("mdf_request", big)["status"] == "Submitted"
    [item] = _payloads(store, "PartnerFundRequest")
    assert item["fields"] == {"Status": "Approved", "Amount": 5000.0}


@pytest.mark.parametrize("amount", [-5000.0, 0.0])
def test_a_registration_without_a_positive_amount_is_routed_not_approved(
    engine: Engine, amount: float
) -> None:
    """The built-in rule approves only a positive amount: a negative or zero one (a typo, a
    credit) goes to a channel manager."""
    store = Store(engine)
    _, pid = _certified_partner(store)
    _, reg = store.put("deal_registration", {
        "name": "DR-NEG", "partner": pid, "end_customer_name": "Negative Corp",
        "amount": amount, "status": "Submitted", "registered_date": days_ago(1)})
    store.run(store.shipped_rules())
    row = store.row("deal_registration", reg)
    assert row["status"] == "Pending Review"
    assert row["decision_reason"].startswith("Needs a channel manager")
