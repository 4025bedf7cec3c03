"""The mapping against the store: a field must fit the column that keeps it (file:line)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.mapping import MappingSpec, load_mapping, loads_mapping, validate_against_store
from connector.store.models import ENTITY_MODELS, column_types, lookup_targets

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "config_corpus" / "mapping_store"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _check(spec: MappingSpec) -> list[object]:
    return list(validate_against_store(
        spec,
        lambda e: column_types(e) if e in ENTITY_MODELS else None,
        lambda e: lookup_targets(e) if e in ENTITY_MODELS else {},
    ))


def test_the_default_mapping_fits_the_store(default_spec: MappingSpec) -> None:
    """Every shipped field fits its column."""
    assert _check(default_spec) == []


def test_new_entities_and_extra_fields_fit_anywhere() -> None:
    """A Contact entity (generic table) and a new field on partner (extra JSON) of any type."""
    spec = loads_mapping("""
version: 1
entities:
  partner:
    sobject: Account
    fields:
      name: Name
      account_type: Type
      founded: {crm: Founded__c, type: date}
  contact:
    sobject: Contact
    fields:
      last_name: LastName
      account: {crm: AccountId, lookup: partner}
      score: {crm: Score__c, type: float}
""")
    assert _check(spec) == []


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_a_field_the_store_cannot_hold_is_reported_at_its_line(case: Path) -> None:
    """One problem, at the expected line and column, saying which column and why."""
    m = EXPECT.match(case.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    problems = validate_against_store(
        load_mapping(case),
        lambda e: column_types(e) if e in ENTITY_MODELS else None,
        lambda e: lookup_targets(e) if e in ENTITY_MODELS else {},
    )
    assert len(problems) == 1, problems
    p = problems[0]
    assert (p.file, p.line, p.column) == (str(case), int(m.group(1)), int(m.group(2))), str(p)
    assert m.group(3) in p.message
