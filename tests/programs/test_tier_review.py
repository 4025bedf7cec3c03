"""The built-in quarterly tier review: between reviews the ladder only moves partners up; the
review (the `quarterly-tier-review` rule of the shipped triggers.yaml) sets every partner's tier
up or down with the reason, through the outbox, once per cron slot."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from triggers.trigtools import Store

from connector.partners.tiers import PENDING
from connector.programs import ProgramsSpec
from connector.programs.local import record_points, record_step
from connector.programs.stage import run_programs
from connector.triggers import read_log, run_scheduled

from .conftest import NOW, programs_env

REVIEW = "quarterly-tier-review"
NEXT_QUARTER = datetime(2027, 1, 1, 4, 30, tzinfo=UTC)  # its slot: 2027-01-01 04:00


@pytest.fixture
def installed(default_spec: ProgramsSpec) -> ProgramsSpec:
    return default_spec


def _gold_partner(store: Store, spec: ProgramsSpec, *, country: str) -> tuple[str, int]:
    """A Gold member of the program who meets Gold: cloud-technical done (two
    certifications), 1,600 points, 300,000 won in the trailing four quarters. Its tier mirror
    (Partner_Tier__c, written by the connector only) is still empty, as after a backfill."""
    levels = store.program()
    sf, pid = store.partner("Gold Partner", level="Gold", levels=levels,
                            billing_country=country)
    store.put("deal", {"name": "Big deal", "partner": pid, "amount": 300000.0,
                       "stage": "Closed Won", "close_date": date(2026, 2, 15),
                       "is_closed": True, "is_won": True}, log=False)
    for step in ("cloud-fundamentals", "cloud-architect"):
        record_step(store.engine, spec, str(pid), step, by="alice", now=NOW)
    record_points(store.engine, spec, str(pid), 1000, reason="Launch", by="alice", now=NOW)
    return sf, pid


def _level(store: Store) -> str:
    """The level of the (one) membership: the tier of record."""
    levels = {r["id"]: r["name"] for r in store.rows("level")}
    return levels[store.rows("membership")[0]["level"]]


def _tier_writes(store: Store, sf: str) -> list[dict[str, object]]:
    """The Account fields queued for ``sf`` that carry a tier."""
    fields = [i["payload"]["fields"] for i in store.outbox()
              if i["sobject"] == "Account" and i["sf_id"] == sf]
    return [f for f in fields if "Partner_Tier__c" in f]


def _not_portal(store: Store) -> list[dict[str, object]]:
    """Queued writes other than the eligibility records the partner portal reads."""
    return [i for i in store.outbox() if i["entity"] != "eligibility"]


def test_a_partner_whose_figures_dropped_is_downgraded_by_the_review_and_not_before(
    engine: Engine, installed: ProgramsSpec
) -> None:
    """Points deducted mid-quarter: the programs stage keeps Gold; the review at the next
    quarter's slot sets Silver with the reason and queues the write-back; a second run of the
    same slot fires nothing; figures back up move the partner up at once, without a review."""
    store = Store(engine, env=programs_env(installed))
    mapping = store.spec
    sf, pid = _gold_partner(store, installed, country="Germany")
    assert run_programs(engine, mapping, installed, lambda: NOW).tier_changes == 0
    # the level stays; its name is mirrored on the partner and written (it never was)
    assert _level(store) == "Gold" and store.row("partner", pid)["tier"] == "Gold"
    assert _tier_writes(store, sf) == [{"Partner_Tier__c": "Gold"}]
    queued = len(_not_portal(store))

    record_points(engine, installed, str(pid), -1000, reason="Clawback", by="bob", now=NOW)
    report = run_programs(engine, mapping, installed, lambda: NOW)
    assert report.changes > 0 and report.tier_changes == 0
    assert _level(store) == "Gold"  # not before the review
    # (what the partner portal reads follows `partner eligible`, which follows the figures)
    assert len(_tier_writes(store, sf)) == 1 and len(_not_portal(store)) == queued
    with engine.connect() as conn:  # nor after a grace period: no downgrade is scheduled
        assert conn.execute(select(func.count()).select_from(PENDING)).scalar_one() == 0

    rules = store.shipped_rules()
    assert rules.get(REVIEW) is not None
    first = run_scheduled(engine, mapping, rules, lambda: NEXT_QUARTER, rule_id=REVIEW)
    assert (first.fired, first.errors) == (1, 0)
    assert store.row("partner", pid)["tier"] == "Silver"
    assert _level(store) == "Silver"
    assert _tier_writes(store, sf) == [{"Partner_Tier__c": "Gold"}, {"Partner_Tier__c": "Silver"}]
    level_writes = [i for i in store.outbox() if i["sobject"] == "ChannelProgramMember"]
    assert len(level_writes) == 1
    assert level_writes[0]["payload"]["fields"]["LevelId"].startswith("0lv")
    with engine.connect() as conn:
        log = read_log(conn, rule=REVIEW)
    assert len(log) == 1
    detail = log[0]["actions"][0]["detail"]
    assert detail.startswith("Gold -> Silver: Quarterly tier review: Silver; Gold needs")
    assert "points >= 1500 (has 600)" in detail

    again = run_scheduled(engine, mapping, rules, lambda: NEXT_QUARTER, rule_id=REVIEW)
    assert again.fired == 0
    assert len(_tier_writes(store, sf)) == 2 and store.row("partner", pid)["tier"] == "Silver"

    record_points(engine, installed, str(pid), 1000, reason="Restored", by="bob",
                  now=NEXT_QUARTER)
    up = run_programs(engine, mapping, installed, lambda: NEXT_QUARTER)
    assert up.tier_changes == 1
    assert store.row("partner", pid)["tier"] == "Gold" and _level(store) == "Gold"
    assert _tier_writes(store, sf)[-1] == {"Partner_Tier__c": "Gold"}


def test_the_review_uses_the_partners_regional_ladder_and_keeps_a_tier_it_still_earns(
    engine: Engine, installed: ProgramsSpec
) -> None:
    """With 150,000 won a German partner falls to Silver, a Brazilian one (emerging-markets
    variant: Gold from 100,000) stays Gold: the review says so and writes nothing for it."""
    store = Store(engine, env=programs_env(installed))
    levels = store.program()
    got = {}
    for name, country in (("Berlin", "Germany"), ("Recife", "Brazil")):
        sf, pid = store.partner(name, level="Gold", levels=levels, tier="Gold",
                                billing_country=country)  # a mirror already written
        store.put("deal", {"name": "deal", "partner": pid, "amount": 150000.0,
                           "stage": "Closed Won", "close_date": date(2026, 2, 15),
                           "is_closed": True, "is_won": True}, log=False)
        for step in ("cloud-fundamentals", "cloud-architect"):
            record_step(engine, installed, str(pid), step, by="alice", now=NOW)
        record_points(engine, installed, str(pid), 1000, reason="Launch", by="alice", now=NOW)
        got[name] = (sf, pid)
    report = run_scheduled(engine, store.spec, store.shipped_rules(), lambda: NEXT_QUARTER,
                           rule_id=REVIEW)
    assert report.errors == 0
    assert store.row("partner", got["Berlin"][1])["tier"] == "Silver"
    assert store.row("partner", got["Recife"][1])["tier"] == "Gold"
    assert _tier_writes(store, got["Recife"][0]) == []
    with engine.connect() as conn:
        details = {r["local_id"]: r["actions"][0]["detail"] for r in read_log(conn, rule=REVIEW)}
    assert details[got["Recife"][1]].startswith(
        "stays Gold: Quarterly tier review: Gold (emerging-markets ladder)")


def test_a_partner_with_no_figures_in_the_prm_drops_one_level_a_review(
    engine: Engine, installed: ProgramsSpec
) -> None:
    """A Platinum partner whose points, certifications and deals are not in the PRM (the first
    review after install): the ladder says Registered, the review takes it to Gold and says
    why; the next quarter's review to Silver. `max_levels_down: null` goes straight there."""
    from connector.triggers import loads_triggers

    store = Store(engine, env=programs_env(installed))
    mapping = store.spec
    levels = store.program()
    sf, _ = store.partner("New Install", level="Platinum", levels=levels,
                            billing_country="Germany")
    rules = store.shipped_rules()
    first = run_scheduled(engine, mapping, rules, lambda: NEXT_QUARTER, rule_id=REVIEW)
    assert (first.fired, first.errors) == (1, 0)
    assert _level(store) == "Gold"
    with engine.connect() as conn:
        detail = read_log(conn, rule=REVIEW)[0]["actions"][0]["detail"]
    assert detail.startswith("Platinum -> Gold (the ladder says Registered; at most 1 level(s)")
    assert _tier_writes(store, sf) == [{"Partner_Tier__c": "Gold"}]

    later = datetime(2027, 4, 1, 4, 30, tzinfo=UTC)
    assert run_scheduled(engine, mapping, rules, lambda: later, rule_id=REVIEW).fired == 1
    assert _level(store) == "Silver"

    shipped = (Path(__file__).resolve().parents[2] / "config" / "triggers.yaml").read_text()
    assert 'review_tier: {reason: "Quarterly tier review"}' in shipped
    unlimited = loads_triggers(shipped.replace(
        '- review_tier: {reason: "Quarterly tier review"}',
        '- review_tier: {reason: "Quarterly tier review", max_levels_down: null}'), mapping,
        env=programs_env(installed))
    last = datetime(2027, 7, 1, 4, 30, tzinfo=UTC)
    assert run_scheduled(engine, mapping, unlimited, lambda: last, rule_id=REVIEW).fired == 1
    assert _level(store) == "Registered"


def test_a_dry_run_of_the_review_shows_each_verdict_and_leaves_no_trace(
    engine: Engine, installed: ProgramsSpec
) -> None:
    """`triggers run-scheduled --dry-run`: the real verdict ("Platinum -> Gold ..."), with no
    tier changed, nothing queued, logged or claimed: the real run afterwards still fires."""
    from connector.triggers.scheduled import preview_scheduled

    store = Store(engine, env=programs_env(installed))
    mapping = store.spec
    levels = store.program()
    store.partner("Preview Partner", level="Platinum", levels=levels, billing_country="France")
    rules = store.shipped_rules()
    report, decisions = preview_scheduled(engine, mapping, rules, lambda: NEXT_QUARTER,
                                          rule_id=REVIEW)
    assert (report.fired, report.outbox) == (1, 2)  # the member's level and the Account's tier
    assert [d["outcome"] for d in decisions] == ["fired"]
    assert decisions[0]["actions"][0]["detail"].startswith("Platinum -> Gold")
    assert _level(store) == "Platinum" and store.outbox() == []
    with engine.connect() as conn:
        assert read_log(conn, rule=REVIEW) == []
    real = run_scheduled(engine, mapping, rules, lambda: NEXT_QUARTER, rule_id=REVIEW)
    assert real.fired == 1 and _level(store) == "Gold"
