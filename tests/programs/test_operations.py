"""Program state in the store: steps, points ledger, certifications, segments (SQLite and PG)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from connector.programs import ProgramsSpec
from connector.programs.facts import LEDGER, MEMBERSHIP, partner_facts, points_balance
from connector.programs.operations import (
    StepBlocked,
    award_points,
    complete_step,
    local_diffs,
    refresh_segments,
)
from connector.store.models import entity_table

from .conftest import NOW, add_deal, add_partner


def test_completing_steps_awards_their_points_once(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    """A step's points land in the ledger once; a second completion changes nothing."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Acme", sf_id="001000000000001AAA", partner_type="Reseller")
        first = complete_step(conn, default_spec, pid, "reseller-agreement", source="local",
                              cause="cli:alice", now=NOW)
        again = complete_step(conn, default_spec, pid, "reseller-agreement", source="local",
                              cause="cli:alice", now=NOW)
        assert first.done and first.points == 50 and not again.done
        assert points_balance(conn, pid) == 50
        by_entity = {c.entity: c for c in first.changes}
        assert sorted(by_entity) == ["partner", "task"]
        assert (by_entity["partner"].new, by_entity["partner"].sf_id) == (
            {"points": 50.0}, "001000000000001AAA")
        assert by_entity["task"].new["subject"] == "Acme: next step Selling the platform 101"
        facts = partner_facts(conn, pid, lambda: NOW, spec=default_spec)
    track = facts["tracks"]["reseller-onboarding"]
    assert (track["status"], track["completed_steps"], facts["points"]) == (
        "in_progress", ["reseller-agreement"], 50)
    assert facts["type"] == "Reseller"


def test_a_step_out_of_order_is_refused_with_the_reason(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    """Cloud sales before the technical track: StepBlocked names the missing track."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Early")
        with pytest.raises(StepBlocked, match="track 'cloud-technical'"):
            complete_step(conn, default_spec, pid, "cloud-solution-selling", source="local",
                          cause="cli", now=NOW)
        assert points_balance(conn, pid) == 0


def test_a_certification_step_creates_a_certification_to_write_back(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    """Done locally, a certification step creates a Partner_Certification__c row with a key."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Certy")
        out = complete_step(conn, default_spec, pid, "cloud-fundamentals", source="local",
                            cause="cli", now=NOW)
        cert = next(c for c in out.changes if c.entity == "certification")
        assert cert.op == "created" and cert.new["name"] == "Cloud Fundamentals"
        assert str(cert.new["prm_key"]).startswith("PRM-CERT-")
        partner = next(c for c in out.changes if c.entity == "partner")
        assert partner.new == {"points": 200.0, "certifications": 1.0}
        diffs = local_diffs(out.changes)
        assert {d.source for d in diffs} == {"local"} and diffs[0].sf_id is None
        from_sf = complete_step(conn, default_spec, pid, "cloud-architect", source="salesforce",
                                cause="certification:a01", now=NOW)
        assert not any(c.entity == "certification" for c in from_sf.changes)


def test_segments_record_entry_and_exit_times(engine: Engine, default_spec: ProgramsSpec) -> None:
    """A partner enters cloud-certified when the track completes and leaves when a step goes."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Seg", billing_country="Germany")
        for step in ("cloud-fundamentals", "cloud-architect"):
            complete_step(conn, default_spec, pid, step, source="local", cause="t", now=NOW)
        events, errors = refresh_segments(conn, default_spec, NOW, [pid])
        assert [(e.segment, e.event) for e in events] == [("cloud-certified", "segment_entered")]
        assert errors == {}
        assert refresh_segments(conn, default_spec, NOW, [pid])[0] == []
        conn.execute(LEDGER.delete())  # no effect on segments: they read tracks
        from connector.programs.facts import COMPLETION

        conn.execute(COMPLETION.delete().where(COMPLETION.c.step == "cloud-architect"))
        later = NOW + timedelta(days=1)
        events, _ = refresh_segments(conn, default_spec, later, [pid])
        assert [(e.segment, e.event) for e in events] == [("cloud-certified", "segment_left")]
        row = conn.execute(select(MEMBERSHIP)).mappings().one()
        assert (row["entered_at"], row["left_at"]) == (NOW, later)


def test_auto_tracks_enrol_the_partners_they_are_open_to(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    """An MSP is enrolled in MSP onboarding and the open tracks, not in reseller onboarding."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Managed", partner_type="MSP")
        refresh_segments(conn, default_spec, NOW, [pid])
        tracks = partner_facts(conn, pid, lambda: NOW, spec=default_spec)["tracks"]
    assert tracks["msp-onboarding"]["status"] == "enrolled"
    assert tracks["cloud-technical"]["status"] == "enrolled"
    assert tracks["reseller-onboarding"]["status"] == "not_enrolled"


def test_revenue_facts_follow_the_fiscal_quarters(engine: Engine) -> None:
    """This quarter, last quarter and the four quarters before this one."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Seller")
        add_deal(conn, pid, 100.0, date(2026, 11, 2))  # this quarter (Q4)
        add_deal(conn, pid, 200.0, date(2026, 8, 2))  # last quarter
        add_deal(conn, pid, 400.0, date(2025, 10, 2))  # four quarters back
        add_deal(conn, pid, 800.0, date(2025, 9, 2))  # five: outside
        f = partner_facts(conn, pid, lambda: NOW)
    assert (f["closed_won_this_quarter"], f["closed_won_last_quarter"],
            f["closed_won_trailing_4q"]) == (100.0, 200.0, 600.0)


@settings(deadline=None, max_examples=25,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(awards=st.lists(st.tuples(st.integers(-500, 500), st.booleans()), max_size=12),
       steps=st.lists(st.sampled_from(["reseller-agreement", "cloud-fundamentals",
                                       "msp-agreement"]), max_size=4))
def test_the_balance_is_always_the_ledger_sum(
    engine: Engine, default_spec: ProgramsSpec, awards: list[tuple[int, bool]],
    steps: list[str],
) -> None:
    """Whatever awards (some keyed and replayed) and steps, balance == sum of ledger rows."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Prop")
        for i, (points, keyed) in enumerate(awards):
            key = f"k{pid}-{i % 3}" if keyed else None
            award_points(conn, pid, points, reason="test", cause="prop", now=NOW, award_key=key)
        for step in steps:
            complete_step(conn, default_spec, pid, step, source="local", cause="prop", now=NOW)
        ledger = conn.execute(select(func.coalesce(func.sum(LEDGER.c.points), 0)).where(
            LEDGER.c.partner_id == pid)).scalar_one()
        partner = entity_table("partner")
        mirror = conn.execute(select(partner.c.points).where(partner.c.id == pid)).scalar()
        assert points_balance(conn, pid) == ledger
        assert float(mirror or 0) == float(ledger)
        assert partner_facts(conn, pid, lambda: NOW, spec=default_spec)["points"] == ledger


def test_type_country_and_industry_come_from_the_columns_else_from_extra(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    """The default mapping's columns win; a mapping that keeps them under other local names
    (in the row's extra JSON) still gives the facts."""
    with engine.begin() as conn:
        cols = add_partner(conn, "Columns", partner_type="MSP", billing_country="Germany",
                           industry="Finance", country="France")
        extra = add_partner(conn, "Extra", type="Referral", country="Brazil")
        facts = {pid: partner_facts(conn, pid, lambda: NOW, spec=default_spec)
                 for pid in (cols, extra)}
    assert [(f["type"], f["country"], f["industry"]) for f in facts.values()] == [
        ("MSP", "Germany", "Finance"), ("Referral", "Brazil", None)]


def test_each_completed_step_asks_the_channel_manager_for_the_next_one(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    """A Task per next step, for the partner's channel manager, on the partner's record: the one
    for a step is marked Completed when the step is done; none after the track's last step,
    and none on a track with ``next_step_task: false``."""
    from connector.programs.loader import loads_programs
    from connector.programs.operations import next_step_key

    task = entity_table("task")
    with engine.begin() as conn:
        pid = add_partner(conn, "Acme", sf_id="001000000000001AAA", partner_type="Reseller",
                          channel_manager="005000000000007AAA")

        def tasks() -> dict[str, dict[str, object]]:
            rows = conn.execute(select(task)).mappings().all()
            return {str(r["prm_key"]): dict(r) for r in rows}

        for step in ("reseller-agreement", "reseller-sales-101"):
            complete_step(conn, default_spec, pid, step, source="local", cause="cli",
                          now=NOW)
        made = tasks()
        asked_101 = made[next_step_key(pid, "reseller-sales-101")]
        asked_reg = made[next_step_key(pid, "reseller-first-registration")]
        assert asked_101["status"] == "Completed"  # its step is done
        assert (asked_reg["status"], asked_reg["owner"], asked_reg["what"]) == (
            "Not Started", "005000000000007AAA", "001000000000001AAA")
        assert asked_reg["subject"] == "Acme: next step Register a first deal"
        assert "2/3 steps of Reseller onboarding" in str(asked_reg["description"])

        last = complete_step(conn, default_spec, pid, "reseller-first-registration",
                             source="local", cause="cli", now=NOW)
        assert [c.new["status"] for c in last.changes if c.entity == "task"] == ["Completed"]
        assert len(tasks()) == 2  # the track is done: nothing more to ask for

        shipped = (Path(__file__).resolve().parents[2] / "config" / "programs.yaml").read_text()
        head = "      cloud-technical:\n        name: Cloud technical certification\n"
        assert head in shipped
        quiet = loads_programs(shipped.replace(head, head + "        next_step_task: false\n"))
        out = complete_step(conn, quiet, pid, "cloud-fundamentals", source="local",
                            cause="cli", now=NOW)
        assert out.done and [c for c in out.changes if c.entity == "task"] == []
