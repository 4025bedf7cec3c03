"""The pure engine: on_true edges, every_time, scope, errors, action parameters, conflicts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.mapping import MappingSpec, load_mapping
from connector.triggers import RuleSet, loads_triggers
from connector.triggers.engine import Change, Evaluator, Facts

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, tzinfo=UTC)
ACTIVE = {"status": "Active", "certifications": 2, "mdf_remaining": 100.0}


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return load_mapping(ROOT / "config" / "mapping.yaml")


def _rules(spec: MappingSpec, body: str) -> RuleSet:
    return loads_triggers("triggers:\n" + body, spec)


def _decide(rules: RuleSet, new: dict | None, old: dict | None = None, *, op: str | None = None,
            facts: Facts | None = None, entity: str = "deal_registration") -> list:
    op = op or ("updated" if old is not None else "created")
    change = Change(entity, op, 1, "a01", new, old, "v1")
    ev = Evaluator(rules.rules, NOW)
    return ev.decide(rules.for_entity(entity), change, facts or Facts(ACTIVE))


REGISTRATION = """
  - id: approve
    entity: deal_registration
    on: [created, updated]
    scope: new.status == 'Submitted'
    when: partner.status == 'Active' && new.amount <= 1000.0 && !conflict
    actions: [{approve_registration: {reason: "Safe"}}]
    otherwise: [{route_for_review: {reason: "Review"}}]
"""


@pytest.mark.parametrize(
    ("new", "old", "outcome", "branch"),
    [
        ({"status": "Submitted", "amount": 10.0}, None, "fire", "actions"),
        ({"status": "Submitted", "amount": 5000.0}, None, "fire", "otherwise"),
        ({"status": "Submitted", "amount": 10.0}, {"status": "Submitted", "amount": 5000.0},
         "fire", "actions"),
        ({"status": "Submitted", "amount": 20.0}, {"status": "Submitted", "amount": 10.0},
         "not_fired", None),
        ({"status": "Submitted", "amount": 5000.0}, {"status": "Submitted", "amount": 10.0},
         "fire", "otherwise"),
        ({"status": "Approved", "amount": 10.0}, {"status": "Submitted", "amount": 10.0},
         "not_fired", None),
        ({"status": "Submitted", "amount": 9000.0}, {"status": "Submitted", "amount": 5000.0},
         "not_fired", None),
    ],
)
def test_on_true_fires_a_branch_only_when_the_record_enters_it(
    spec: MappingSpec, new: dict, old: dict | None, outcome: str, branch: str | None
) -> None:
    """on_true: a branch fires on create or when the previous version was in another one."""
    [d] = _decide(_rules(spec, REGISTRATION), new, old)
    assert (d.outcome, d.branch) == (outcome, branch)


def test_every_time_fires_on_each_matching_change(spec: MappingSpec) -> None:
    """every_time: the same true condition fires again on the next version."""
    rules = _rules(spec, REGISTRATION.replace("actions:", "mode: every_time\n    actions:", 1))
    [d] = _decide(rules, {"status": "Submitted", "amount": 20.0},
                  {"status": "Submitted", "amount": 10.0})
    assert (d.outcome, d.branch) == ("fire", "actions")


def test_the_conflict_note_is_added_to_the_routing_reason(spec: MappingSpec) -> None:
    """A conflict routes the registration, and its reason names the earlier registration."""
    facts = Facts(ACTIVE, True, "conflicts with registration DR-1 registered 2026-11-01")
    [d] = _decide(_rules(spec, REGISTRATION), {"status": "Submitted", "amount": 10.0},
                  facts=facts)
    assert d.branch == "otherwise"
    assert d.actions[0].params["reason"] == (
        "Review; conflicts with registration DR-1 registered 2026-11-01")


def test_a_null_field_is_an_error_decision_naming_it(spec: MappingSpec) -> None:
    """Comparing a null amount fails the rule with a one-line reason, not an exception."""
    [d] = _decide(_rules(spec, REGISTRATION), {"status": "Submitted", "amount": None})
    assert d.outcome == "error"
    assert "new.amount" in d.reason and "null" in d.reason and "\n" not in d.reason


def test_a_null_field_error_names_only_the_fields_the_failing_expression_reads(
    spec: MappingSpec,
) -> None:
    """Another rule reads end_customer_name; this one fails on a null amount: its reason
    names new.amount alone, not every null field bound for the change."""
    rules = _rules(spec, REGISTRATION + """
  - id: names
    entity: deal_registration
    on: [created]
    when: new.end_customer_name == 'Acme'
    actions: [{route_for_review: {reason: "Named"}}]
""")
    decisions = _decide(rules, {"status": "Submitted", "amount": None,
                                "end_customer_name": None})
    by_rule = {d.rule.id: d for d in decisions}
    approve = by_rule["approve"]
    assert approve.outcome == "error"
    assert "(new.amount is null)" in approve.reason
    assert "end_customer_name" not in approve.reason


def test_cel_action_parameters_are_evaluated_when_firing(spec: MappingSpec) -> None:
    """allocate_mdf's amount is computed from the partner facts at decision time."""
    rules = _rules(spec, """
  - id: mdf
    entity: partner
    on: [updated]
    when: partner.closed_won_last_quarter > 0.0
    mode: every_time
    actions: [{allocate_mdf: {amount: "partner.closed_won_last_quarter * 0.02"}}]
""")
    facts = Facts({"closed_won_last_quarter": 600000.0})
    [d] = _decide(rules, {"status": "Active"}, {"status": "Active"}, facts=facts,
                  entity="partner")
    assert d.actions[0].params["amount"] == pytest.approx(12000.0)


def test_rules_watch_only_their_events_and_sources(spec: MappingSpec) -> None:
    """A created-only rule ignores updates; backfilled changes fire nothing by default."""
    rules = _rules(spec, """
  - id: on-create
    entity: deal
    on: [created]
    actions: [{award_points: {points: 1}}]
""")
    ev = Evaluator(rules.rules, NOW)
    upd = Change("deal", "updated", 1, "x", {"amount": 1.0}, {"amount": 2.0}, "v")
    back = Change("deal", "created", 1, "x", {"amount": 1.0}, None, "v", source="backfill")
    live = Change("deal", "created", 1, "x", {"amount": 1.0}, None, "v")
    deal_rules = rules.for_entity("deal")
    assert ev.decide(deal_rules, upd, Facts()) == []
    assert ev.decide(deal_rules, back, Facts()) == []
    assert [d.outcome for d in ev.decide(deal_rules, live, Facts())] == ["fire"]


def test_dates_compare_with_now(spec: MappingSpec) -> None:
    """A date field is a timestamp at midnight UTC, comparable with `now`."""
    rules = _rules(spec, """
  - id: expired
    entity: deal_registration
    schedule: "0 1 * * *"
    when: new.expiration_date < now
    actions: [{set_field: {field: status, value: "'Expired'"}}]
""")
    ev = Evaluator(rules.rules, NOW)
    old = Change("deal_registration", "scheduled", 1, "x",
                 {"expiration_date": datetime(2026, 11, 1).date()}, None, "slot")
    fresh = Change("deal_registration", "scheduled", 2, "y",
                   {"expiration_date": datetime(2027, 1, 1).date()}, None, "slot")
    assert [d.outcome for d in ev.decide(rules.rules, old, Facts())] == ["fire"]
    assert ev.decide_one(rules.rules[0], fresh, Facts()).outcome == "not_fired"


def test_firing_keys_name_rule_record_and_version(spec: MappingSpec) -> None:
    """The key is stable for a version and differs between versions."""
    rules = _rules(spec, REGISTRATION)
    ev = Evaluator(rules.rules, NOW)
    a = Change("deal_registration", "created", 7, "x", {"status": "Submitted", "amount": 1.0},
               None, "created@2026-11-30T00:00:00+00:00")
    b = Change("deal_registration", "created", 7, "x", {"status": "Submitted", "amount": 1.0},
               None, "created@2026-11-30T00:00:01+00:00")
    ka = ev.decide_one(rules.rules[0], a, Facts(ACTIVE)).key
    assert ka == "approve|deal_registration|7|created@2026-11-30T00:00:00+00:00"
    assert ka == ev.decide_one(rules.rules[0], a, Facts(ACTIVE)).key
    assert ka != ev.decide_one(rules.rules[0], b, Facts(ACTIVE)).key
