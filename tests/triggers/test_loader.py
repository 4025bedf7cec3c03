"""triggers.yaml loading: the broken-rule corpus, the shipped pack, CEL checks at load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.mapping import MappingSpec, load_mapping
from connector.partners.env import RuleEnv
from connector.programs import load_programs
from connector.programs.hooks import extension
from connector.triggers import load_triggers, loads_triggers

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "config_corpus" / "triggers"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _with_default_segments() -> RuleEnv:
    """The rule environment as `check` builds it when the default programs.yaml exists: its
    segment names are the ones a rule's ``segment:`` may watch."""
    return RuleEnv().extended(extension(load_programs(ROOT / "config" / "programs.yaml")))


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return load_mapping(ROOT / "config" / "mapping.yaml")


def test_corpus_has_at_least_twenty_five_cases() -> None:
    """The broken-rule corpus covers enough mistakes to mean something."""
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_rule_is_reported_at_its_line_and_column(case: Path, spec: MappingSpec) -> None:
    """Given a broken triggers.yaml, loading raises a ConfigError at the expected spot."""
    m = EXPECT.match(case.read_text().splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    line, col, fragment = int(m.group(1)), int(m.group(2)), m.group(3)
    with pytest.raises(ConfigError) as info:
        load_triggers(case, spec, env=_with_default_segments())
    first = info.value.problems[0]
    assert (first.line, first.column) == (line, col), str(info.value)
    assert fragment in first.message
    assert str(info.value).startswith(f"{case}:{line}:{col}: ")


def test_every_problem_in_a_file_is_reported_together(spec: MappingSpec) -> None:
    """Three broken rules in one file give three located problems, one per rule."""
    text = """triggers:
  - id: a
    entity: deal
    on: [created]
    when: new.ammount > 1.0
    actions: [{award_points: {points: 1}}]
  - id: b
    entity: nowhere
    on: [created]
    actions: [{award_points: {points: 1}}]
  - id: c
    entity: partner
    schedule: "0 99 * * *"
    actions: [{award_points: {points: 1}}]
"""
    with pytest.raises(ConfigError) as info:
        loads_triggers(text, spec)
    assert [p.line for p in info.value.problems] == [5, 8, 13]


def test_the_shipped_pack_loads_and_covers_every_scenario(spec: MappingSpec) -> None:
    """config/triggers.yaml is valid against config/mapping.yaml and has the built-in rules."""
    rules = load_triggers(ROOT / "config" / "triggers.yaml", spec)
    ids = {r.id for r in rules.rules}
    assert {
        "auto-approve-registration", "registration-expiry", "certification-tier-silver",
        "certification-tier-gold", "certification-points", "won-deal-points", "quarterly-mdf",
        "two-quarter-decline", "agreement-signed-onboarding", "mdf-request-auto-approve",
    } <= ids
    actions = {a.name for r in rules.rules for a in (*r.actions, *r.otherwise)}
    assert {"approve_registration", "route_for_review", "set_tier", "allocate_mdf",
            "award_points", "create_task", "approve_mdf_request", "set_field"} <= actions


def test_every_shipped_rule_is_documented_in_the_readme(spec: MappingSpec) -> None:
    """Each built-in rule id appears in README.md's triggers section."""
    readme = (ROOT / "README.md").read_text()
    rules = load_triggers(ROOT / "config" / "triggers.yaml", spec)
    missing = [r.id for r in rules.rules if f"`{r.id}`" not in readme]
    assert not missing


def test_rules_are_ordered_by_order_then_file_position(spec: MappingSpec) -> None:
    """`order:` puts a later rule first; ties keep the file's order."""
    text = """triggers:
  - id: first-in-file
    entity: deal
    on: [created]
    actions: [{award_points: {points: 1}}]
  - id: runs-first
    entity: deal
    on: [created]
    order: -1
    actions: [{award_points: {points: 1}}]
  - id: last
    entity: deal
    on: [created]
    actions: [{award_points: {points: 1}}]
"""
    rules = loads_triggers(text, spec)
    assert [r.id for r in rules.for_entity("deal")] == ["runs-first", "first-in-file", "last"]


def test_scheduled_rule_uses_for_each_as_its_entity(spec: MappingSpec) -> None:
    """`for_each:` names the entity a scheduled rule walks."""
    text = """triggers:
  - id: nightly
    for_each: deal_registration
    schedule: "0 1 * * *"
    when: new.status == 'Approved'
    actions: [{set_field: {field: status, value: "'Expired'"}}]
"""
    rule = loads_triggers(text, spec).rules[0]
    assert rule.entity == "deal_registration" and rule.scheduled
