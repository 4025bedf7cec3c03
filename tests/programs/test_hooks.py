"""Programs in the triggers: facts and segment events in rules, actions into the ledger."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from connector.errors import ConfigError
from connector.mapping import load_mapping
from connector.programs import ProgramsSpec
from connector.programs.facts import LEDGER, points_balance
from connector.programs.local import record_step
from connector.programs.stage import run_programs
from connector.triggers import loads_triggers, run_triggers

from .conftest import NOW, ROOT, add_partner, programs_env

MAPPING = load_mapping(ROOT / "config" / "mapping.yaml")
RULES = """\
triggers:
  - id: cloud-welcome
    entity: partner
    on: [segment_entered]
    segment: cloud-certified
    when: partner.type == 'Reseller' && partner.tracks['cloud-technical'].completed
    actions:
      - award_points: {points: "partner.points * 0.5", reason: "Welcome bonus"}
      - enroll: {track: cloud-sales}
      - complete_step: {step: cloud-solution-selling}
"""


@pytest.fixture
def installed(default_spec: ProgramsSpec) -> ProgramsSpec:
    """The default programs.yaml (its rule environment: ``programs_env``)."""
    return default_spec


def test_rules_read_program_facts_and_watch_segment_events(installed: ProgramsSpec) -> None:
    """partner.type, partner.tracks[...] and certifications_in type-check; segment: is kept."""
    rules = loads_triggers(RULES, MAPPING, env=programs_env(installed))
    assert rules.rules[0].segment == "cloud-certified"
    assert rules.rules[0].on == ("segment_entered",)
    ok = RULES.replace("partner.type == 'Reseller'", "partner.certifications_in('cloud') >= 1")
    assert loads_triggers(ok, MAPPING, env=programs_env(installed)).rules


@pytest.mark.parametrize(("change", "message"), [
    ("on: [segment_entered]", "segment: only applies"),
    ("entity: partner", "segment_entered is a partner event"),
])
def test_segment_rules_are_checked_at_load(
    installed: ProgramsSpec, change: str, message: str
) -> None:
    """segment: needs a segment event; a segment event needs entity partner."""
    text = RULES.replace("partner.type == 'Reseller' && ", "")
    broken = {
        "on: [segment_entered]": text.replace("on: [segment_entered]", "on: [updated]"),
        "entity: partner": text.replace("entity: partner", "entity: certification")
        .replace("partner.tracks['cloud-technical'].completed", "true"),
    }[change]
    with pytest.raises(ConfigError, match=message):
        loads_triggers(broken, MAPPING, env=programs_env(installed))


def test_a_segment_entry_fires_the_rule_and_its_program_actions(
    engine: Engine, installed: ProgramsSpec
) -> None:
    """Completing the track enters the segment; the rule awards half the balance (once),
    enrols in cloud sales and completes its first step, now unblocked."""
    with engine.begin() as conn:
        pid = add_partner(conn, "Acme", sf_id="001000000000001AAA", partner_type="Reseller")
    for step in ("cloud-fundamentals", "cloud-architect"):
        got = record_step(engine, installed, "Acme", step, by="alice", now=NOW)
    assert got["segments"] == [{"segment": "cloud-certified", "event": "segment_entered"}]
    rules = loads_triggers(RULES, MAPPING, env=programs_env(installed))
    report = run_triggers(engine, MAPPING, rules, lambda: NOW)
    assert report.fired == 1 and report.errors == 0
    with engine.connect() as conn:
        rows = conn.execute(select(LEDGER.c.points, LEDGER.c.reason).where(
            LEDGER.c.partner_id == pid).order_by(LEDGER.c.id)).all()
        assert [tuple(r) for r in rows] == [
            (200, "step cloud-fundamentals: Cloud Fundamentals"),
            (400, "step cloud-architect: Cloud Architect"),
            (300, "Welcome bonus"),
            (150, "step cloud-solution-selling: Solution selling"),
        ]
        assert points_balance(conn, pid) == 1050
    again = run_triggers(engine, MAPPING, rules, lambda: NOW)
    assert again.fired == 0
    with engine.connect() as conn:
        assert points_balance(conn, pid) == 1050


def test_the_programs_stage_completes_steps_from_salesforce_certifications(
    engine: Engine, installed: ProgramsSpec
) -> None:
    """A certification polled in completes its step once; a replayed batch changes nothing."""
    from connector.store.diffs import RecordDiff
    from connector.store.models import entity_table
    from connector.store.stream import append_changes

    with engine.begin() as conn:
        pid = add_partner(conn, "Polled", sf_id="001000000000009AAA")
        cert = entity_table("certification")
        cid = conn.execute(cert.insert().values(
            name="cloud fundamentals", partner=pid, sf_id="a01000000000001AAA",
            is_deleted=False, created_at=NOW, updated_at=NOW)).inserted_primary_key[0]
        append_changes(conn, [RecordDiff(
            entity="certification", sf_id="a01000000000001AAA", op="created", old=None,
            new={"name": "cloud fundamentals", "partner": pid}, changed=("name", "partner"),
            origin="005ADMIN", modstamp=NOW, local_id=cid, source="poll")], cycle_id="c1")
    report = run_programs(engine, MAPPING, installed, lambda: NOW)
    # the points to Partner_Points__c, and the channel manager's Task for the next step (and
    # the segments and eligibility records the partner portal reads)
    assert (report.steps_completed, report.outbox - report.portal_writes) == (1, 2)
    assert report.portal_writes > 0
    with engine.connect() as conn:
        assert points_balance(conn, pid) == 200
        task = entity_table("task")
        subjects = conn.execute(select(task.c.subject)).scalars().all()
    assert subjects == ["Polled: next step Cloud Architect"]
    assert run_programs(engine, MAPPING, installed, lambda: NOW).changes == 0
