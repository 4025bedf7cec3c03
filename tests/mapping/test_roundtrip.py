"""Every `both` field of the shipped mapping round-trips through Salesforce's JSON wire form."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping import (
    EntityMapping,
    FieldMapping,
    MappingSpec,
    load_mapping,
    loads_mapping,
    to_crm,
    to_local,
)

SPEC = load_mapping(Path(__file__).resolve().parents[2] / "config" / "mapping.yaml")
BOTH = [
    (entity, f)
    for entity in SPEC.entities.values()
    for f in entity.fields.values()
    if f.direction == "both"
]

_datetimes = st.datetimes(
    min_value=datetime(1700, 1, 1), max_value=datetime(4000, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))

BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(),
    "bool": st.booleans(),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "int": st.integers(-(2**53), 2**53),
    "date": st.dates(min_value=date(1700, 1, 1), max_value=date(4000, 12, 31)),
    "datetime": _datetimes,
    "lookup": st.from_regex(r"[A-Za-z0-9]{15}([A-Za-z0-9]{3})?", fullmatch=True),
}


def local_values(f: FieldMapping) -> st.SearchStrategy[Any]:
    """Values in the field's local domain, null included."""
    if f.values is not None:
        return st.none() | st.sampled_from(sorted(set(f.values.values())))
    return st.none() | BY_TYPE[f.local_type]


def through_the_wire(entity: EntityMapping, f: FieldMapping, value: Any) -> Any:
    payload = to_crm(entity, {f.local: value})
    assert list(payload) == [f.crm]
    if f.values is not None and value in f.values.values():  # the org sees its own value
        assert payload[f.crm] in f.values
    wire = json.loads(json.dumps(payload))
    return to_local(entity, wire)[f.local]


def test_the_default_mapping_has_both_fields_to_check() -> None:
    """The 25 both fields of docs/model.md, of every kind the property must cover."""
    assert len(BOTH) == 25
    assert {f.local_type for _, f in BOTH} >= {"str", "date", "float", "lookup"}


@pytest.mark.parametrize(("entity", "field"), BOTH, ids=[f"{e.name}.{f.local}" for e, f in BOTH])
@settings(max_examples=60)
@given(data=st.data())
def test_both_field_round_trips(entity: EntityMapping, field: FieldMapping, data: Any) -> None:
    """Given a local value v of a both field, to_local(wire(to_crm(v))) == v, same type."""
    value = data.draw(local_values(field))
    back = through_the_wire(entity, field, value)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize("local_type", sorted(BY_TYPE))
@settings(max_examples=60)
@given(data=st.data())
def test_every_local_type_round_trips(local_type: str, data: Any) -> None:
    """The property holds for each local type, not only those the default mapping uses."""
    lookup = ", lookup: other" if local_type == "lookup" else f", type: {local_type}"
    spec = load_spec_with(f"{{crm: X__c, direction: both{lookup}}}")
    entity = spec.entities["thing"]
    f = entity.fields["x"]
    value = data.draw(local_values(f))
    back = through_the_wire(entity, f, value)
    assert back == value and type(back) is type(value)


@settings(max_examples=60)
@given(value=st.sampled_from(["won", "lost", "open"]) | st.none())
def test_a_one_to_one_values_map_round_trips(value: str | None) -> None:
    spec = load_spec_with(
        '{crm: X__c, direction: both, values: {"Closed Won": won, "Closed Lost": lost}}'
    )
    entity = spec.entities["thing"]
    assert through_the_wire(entity, entity.fields["x"], value) == value


def load_spec_with(field_yaml: str) -> MappingSpec:
    """A two-entity mapping whose entity ``thing`` has one field ``x`` as given."""
    return loads_mapping(
        "entities:\n"
        "  other:\n    sobject: Other__c\n    fields:\n      name: Name\n"
        f"  thing:\n    sobject: Thing__c\n    fields:\n      x: {field_yaml}\n"
    )
