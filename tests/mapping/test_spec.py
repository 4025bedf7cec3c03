"""mapping.yaml loading: the shipped default follows docs/model.md; broken files are located."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.mapping import MappingSpec, load_mapping, loads_mapping

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "config_corpus" / "mapping"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def model_rows() -> list[dict[str, str]]:
    """The entity/field table of docs/model.md, one dict per field row."""
    rows: list[dict[str, str]] = []
    entity = sobject = ""
    for line in (ROOT / "docs" / "model.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] in ("entity", "---") or set(cells[0]) == {"-"}:
            continue
        if cells[0]:
            entity, sobject = cells[0], cells[1]
        rows.append({"entity": entity, "sobject": sobject, "local": cells[2], "crm": cells[3],
                     "type": cells[4], "dir": cells[5]})
    return rows


def test_default_mapping_maps_exactly_the_model(default_spec: MappingSpec) -> None:
    """Every entity and field of docs/model.md, with its Salesforce field, direction, lookup."""
    rows = model_rows()
    assert len(rows) > 60
    expected = {(r["entity"], r["local"]): r for r in rows}
    mapped = {(e.name, f.local): (e, f) for e in default_spec.entities.values()
              for f in e.fields.values()}
    assert set(mapped) == set(expected)
    for key, (entity, f) in mapped.items():
        row = expected[key]
        assert entity.sobject == row["sobject"].split(" ")[0], key
        assert f.crm == row["crm"], key
        assert f.direction == row["dir"], key
        target = re.match(r"lookup -> (\w+)", row["type"])
        assert f.lookup == (target.group(1) if target else None), key


TYPE_OF = [
    (r".*kept locally as a float", "float"),
    (r"^(string|textarea|url|picklist|multipicklist|combobox|reference)", "str"),
    (r"^int$", "int"),
    (r"^boolean", "bool"),
    (r"^(double|currency|percent)", "float"),
    (r"^date$", "date"),
    (r"^lookup", "lookup"),
]


def test_default_mapping_types_follow_the_model(default_spec: MappingSpec) -> None:
    """Local types follow docs/model.md's "Local types" rule."""
    for row in model_rows():
        f = default_spec.entities[row["entity"]].fields[row["local"]]
        want = next(t for pattern, t in TYPE_OF if re.match(pattern, row["type"]))
        assert f.local_type == want, (row["entity"], row["local"], row["type"])


def test_default_mapping_filters_partners_and_keys_created_objects(
    default_spec: MappingSpec,
) -> None:
    e = default_spec.entities
    assert e["partner"].filter == "IsPartner = true"
    assert {n for n, x in e.items() if x.key != "Id"} == {
        "certification", "eligibility", "mdf_allocation", "task"}
    assert all(x.key == "PRM_Key__c" for x in e.values() if x.key != "Id")


def test_entities_come_in_dependency_order(default_spec: MappingSpec) -> None:
    """Every lookup target precedes the entity that refers to it."""
    order = list(default_spec.entities)
    for name, entity in default_spec.entities.items():
        for target in entity.lookups().values():
            assert order.index(target) < order.index(name), (name, target)


def test_dependency_order_is_stable_and_moves_only_what_it_must() -> None:
    spec = loads_mapping("""
entities:
  deal:
    sobject: Opportunity
    fields: {partner: {crm: PartnerAccountId, lookup: partner}}
  zeta:
    sobject: Zeta__c
    fields: {name: Name}
  partner:
    sobject: Account
    fields: {name: Name, parent: {crm: ParentId, lookup: partner}}
  alpha:
    sobject: Alpha__c
    fields: {name: Name}
""")
    assert list(spec.entities) == ["zeta", "partner", "deal", "alpha"]


def test_entity_accessors(default_spec: MappingSpec) -> None:
    partner = default_spec.entities["partner"]
    assert partner.inbound_fields() == [
        "Name", "IsPartner", "Partner_Status__c", "Agreement_Signed_Date__c",
        "Channel_Manager__c", "Website", "Partner_Type__c", "BillingCountry", "Industry",
    ]
    assert partner.outbound_fields() == [
        "Partner_Status__c", "Certifications__c", "Partner_Points__c", "Partner_Tier__c",
        "Partner_Segments__c",
    ]
    assert default_spec.entities["membership"].lookups() == {
        "partner": "partner", "program": "program", "level": "level",
    }
    assert default_spec.entity_for_sobject("deal_registration__C") is (
        default_spec.entities["deal_registration"]
    )
    assert default_spec.entity_for_sobject("Contact") is None
    deal = default_spec.entities["deal"]
    assert deal.field_for_crm("stagename") is deal.fields["stage"]


def test_locate_points_at_the_entity_and_field_keys(default_spec: MappingSpec) -> None:
    text = (ROOT / "config" / "mapping.yaml").read_text().splitlines()
    file, line, col = default_spec.locate("deal", "stage")
    assert file == str(ROOT / "config" / "mapping.yaml")
    assert text[line - 1][col - 1:].startswith("stage:")
    file, line, col = default_spec.locate("task")
    assert text[line - 1][col - 1:].startswith("task:")


def test_short_form_means_in_and_text() -> None:
    f = loads_mapping("entities: {p: {sobject: Account, fields: {name: Name}}}").entities[
        "p"].fields["name"]
    assert (f.crm, f.direction, f.local_type, f.conflict, f.transform) == (
        "Name", "in", "str", "crm_wins", None)


def test_every_problem_in_a_file_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        loads_mapping("""
entities:
  Bad:
    sobject: Account
    fields:
      a: {crm: A__c, direction: sideways}
      b: {crm: B__c, transform: nope}
      c: {crm: C__c, lookup: nowhere}
""", "m.yaml")
    lines = [p.line for p in info.value.problems]
    assert lines == [3, 6, 7, 8]


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_mapping_is_reported_at_its_line_and_column(case: Path) -> None:
    """Given a broken mapping.yaml, loading raises ConfigError at the expected spot."""
    m = EXPECT.match(case.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    line, col, fragment = int(m.group(1)), int(m.group(2)), m.group(3)
    with pytest.raises(ConfigError) as info:
        load_mapping(case)
    first = info.value.problems[0]
    assert (first.line, first.column) == (line, col), str(info.value)
    assert fragment in first.message, str(info.value)
    assert first.file == str(case)
    assert str(info.value).startswith(f"{case}:{line}:{col}: ")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_mapping(tmp_path / "nope.yaml")


# Anything YAML can hold, in roughly the shape of a mapping: only ConfigError may come out.
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6),
    st.sampled_from(["Id", "Name", "in", "out", "both", "date", "lookup", "partner", "round",
                     "PRM_Key__c", "crm_wins"]),
)
keys = st.sampled_from(["version", "entities", "sobject", "key", "filter", "fields", "crm",
                        "direction", "transform", "values", "lookup", "conflict", "type", "name",
                        "digits", "value", "partner", "deal", "x"])
trees = st.recursive(
    leaves, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(keys, kids, max_size=4),
    max_leaves=25,
)


@settings(max_examples=300)
@given(trees)
def test_nothing_but_config_error_escapes(tree: Any) -> None:
    """Given any YAML document, load_mapping returns a spec or raises ConfigError."""
    text = yaml.safe_dump(tree)
    with contextlib.suppress(ConfigError):
        loads_mapping(text, "fuzz.yaml")


@settings(max_examples=200)
@given(
    st.dictionaries(keys, st.one_of(leaves, st.dictionaries(keys, leaves, max_size=3)),
                    max_size=5),
    st.sampled_from(["partner", "deal"]),
)
def test_nothing_but_config_error_escapes_from_field_options(
    options: dict[str, Any], name: str
) -> None:
    """Given arbitrary field options inside a valid file, only ConfigError comes out."""
    doc = {"entities": {
        "partner": {"sobject": "Account", "fields": {"name": "Name"}},
        "deal": {"sobject": "Opportunity", "key": "PRM_Key__c", "fields": {name: options}},
    }}
    with contextlib.suppress(ConfigError):
        loads_mapping(yaml.safe_dump(doc), "fuzz.yaml")
