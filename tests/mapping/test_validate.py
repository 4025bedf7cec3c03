"""The mapping checked against the org's describe: the default passes, mistakes are located."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from connector.mapping import MappingSpec, load_mapping, loads_mapping, validate_against_describe

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "config_corpus" / "mapping_describe"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def test_default_mapping_validates_against_the_default_org(
    default_spec: MappingSpec, describes: dict[str, dict[str, Any]]
) -> None:
    """Given the describe of the default org schema, the shipped mapping has no problem."""
    names = list(describes)
    assert validate_against_describe(default_spec, describes.get, sobject_names=names) == []


def test_default_mapping_validates_against_the_emulator(default_spec: MappingSpec) -> None:
    """The emulator's own describe agrees with the shipped mapping (when the emulator exists)."""
    standard = pytest.importorskip("connector.emulator.standard")
    describe_mod = pytest.importorskip("connector.emulator.describe")
    schema = standard.build_schema()
    objects = getattr(schema, "objects", schema)

    def describe(name: str) -> dict[str, Any] | None:
        found = next((o for n, o in objects.items() if n.lower() == name.lower()), None)
        return None if found is None else describe_mod.describe_sobject(found, objects, "62.0")

    assert validate_against_describe(default_spec, describe, sobject_names=list(objects)) == []


def _without(describes: dict[str, Any], sobject: str, field: str) -> dict[str, Any]:
    out = copy.deepcopy(describes)
    out[sobject]["fields"] = [f for f in out[sobject]["fields"] if f["name"] != field]
    return out


def test_a_field_missing_from_the_org_is_reported_at_its_line(
    default_spec: MappingSpec, describes: dict[str, Any]
) -> None:
    problems = validate_against_describe(
        default_spec, _without(describes, "Deal_Registration__c", "Decision_Reason__c").get)
    assert len(problems) == 1
    p = problems[0]
    assert p.message == "Deal_Registration__c has no field 'Decision_Reason__c'"
    line = (ROOT / "config" / "mapping.yaml").read_text().splitlines()[p.line - 1]
    assert "Decision_Reason__c" in line[p.column - 1:]


def test_a_both_field_that_is_not_createable_fails_on_an_upserted_entity(
    default_spec: MappingSpec, describes: dict[str, Any]
) -> None:
    """Entities keyed by an external id create records: their written fields must be createable."""
    d = copy.deepcopy(describes)
    for f in d["Task"]["fields"]:
        if f["name"] == "Subject":
            f["createable"] = False
    problems = validate_against_describe(default_spec, d.get)
    assert [p.message for p in problems] == [
        "Task.Subject is not createable in the org, but task creates records (key PRM_Key__c); "
        "use direction: in"]


def test_a_missing_object_without_names_gets_no_suggestion() -> None:
    spec = loads_mapping("entities: {p: {sobject: Acount, fields: {name: Name}}}")
    problems = validate_against_describe(spec, lambda _name: None)
    assert [p.message for p in problems] == ["sobject 'Acount' does not exist in the org"]


def test_problems_of_every_entity_are_reported_together(
    default_spec: MappingSpec, describes: dict[str, Any]
) -> None:
    d = _without(_without(describes, "Account", "Website"), "Task", "Priority")
    problems = validate_against_describe(default_spec, d.get)
    assert [p.message.split(" has no field")[0] for p in problems] == ["Account", "Task"]
    assert problems[0].line < problems[1].line


def test_validation_matches_crm_names_case_insensitively(describes: dict[str, Any]) -> None:
    spec = loads_mapping("entities: {p: {sobject: account, fields: {name: NAME}}}")
    assert validate_against_describe(spec, lambda n: describes.get(n.capitalize())) == []


def test_describe_corpus_is_big_enough() -> None:
    assert len(CASES) >= 8


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_describe_mismatch_is_reported_at_its_line(
    case: Path, describes: dict[str, dict[str, Any]]
) -> None:
    """Given a mapping that loads but disagrees with the org, one problem at the expected spot."""
    m = EXPECT.match(case.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    spec = load_mapping(case)
    problems = validate_against_describe(spec, describes.get, sobject_names=list(describes))
    assert len(problems) == 1, problems
    p = problems[0]
    assert (p.file, p.line, p.column) == (str(case), int(m.group(1)), int(m.group(2))), str(p)
    assert m.group(3) in p.message


def test_a_compound_address_field_is_refused_with_its_components_named(
    describes: dict[str, Any]
) -> None:
    """BillingAddress arrives as an object no local type holds: map BillingCity etc. instead."""
    d = copy.deepcopy(describes)
    d["Account"]["fields"].append({"name": "BillingAddress", "type": "address",
                                   "updateable": False, "createable": False})
    spec = loads_mapping("entities: {p: {sobject: Account, fields: {addr: BillingAddress}}}")
    problems = validate_against_describe(spec, d.get)
    assert [p.message.split(";")[0] for p in problems] == [
        "Account.BillingAddress is a compound address field"]
    assert "BillingCity" in problems[0].message
