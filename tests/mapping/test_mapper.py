"""to_local / to_crm on rows and changes; diff and fingerprint."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import SkippableError
from connector.mapping import (
    EntityMapping,
    MappingError,
    diff,
    fingerprint,
    loads_mapping,
    to_crm,
    to_local,
)

SPEC = loads_mapping("""
version: 1
entities:
  partner:
    sobject: Account
    fields:
      name: Name
  thing:
    sobject: Thing__c
    fields:
      label: Name
      flag: {crm: Flag__c, type: bool}
      ratio: {crm: Ratio__c, type: float}
      count: {crm: Count__c, type: int}
      day: {crm: Day__c, type: date}
      at: {crm: At__c, type: datetime}
      partner: {crm: Partner__c, lookup: partner, direction: both}
      stage: {crm: Stage__c, direction: both, values: {"Closed Won": won, "Closed Lost": lost}}
      domain: {crm: Domain__c, transform: [trim, lower]}
      price: {crm: Price__c, transform: {name: round, digits: 2}, direction: both}
      points: {crm: Points__c, type: float, direction: out}
      tier: {crm: Tier__c, direction: out}
""", "inline.yaml")
THING: EntityMapping = SPEC.entities["thing"]
PARTNER_ID = "001000000000001AAA"

ROW: dict[str, Any] = {
    "attributes": {"type": "Thing__c"},
    "Id": "a00000000000001AAA",
    "Name": "Widget",
    "Flag__c": True,
    "Ratio__c": 1,
    "Count__c": 4.0,
    "Day__c": "2026-11-22",
    "At__c": "2026-11-22T10:16:09.000+0000",
    "Partner__c": PARTNER_ID,
    "Stage__c": "Closed Won",
    "Domain__c": "  ACME.com ",
    "Price__c": 10.004,
    "Points__c": 99,
}


def test_to_local_types_every_inbound_field() -> None:
    """Given a raw row, each in/both field comes back typed by its local type."""
    assert to_local(THING, ROW) == {
        "label": "Widget",
        "flag": True,
        "ratio": 1.0,
        "count": 4,
        "day": date(2026, 11, 22),
        "at": datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC),
        "partner": PARTNER_ID,
        "stage": "won",
        "domain": "acme.com",
        "price": 10.0,
    }
    assert isinstance(to_local(THING, ROW)["ratio"], float)


def test_to_local_leaves_out_out_only_fields_and_nulls_missing_ones() -> None:
    """out fields are not read; a field absent from the row is None."""
    got = to_local(THING, {"Id": "a00000000000001AAA", "Name": "W"})
    assert "points" not in got and "tier" not in got
    assert got["flag"] is None and got["day"] is None and got["partner"] is None


def test_unmapped_picklist_values_pass_through() -> None:
    assert to_local(THING, {**ROW, "Stage__c": "Negotiation"})["stage"] == "Negotiation"


@pytest.mark.parametrize(
    ("crm", "bad", "local"),
    [
        ("Flag__c", "perhaps", "flag"),
        ("Ratio__c", "1,5", "ratio"),
        ("Count__c", 2.5, "count"),
        ("Day__c", "22.11.2026", "day"),
        ("At__c", "noon", "at"),
        ("Partner__c", "Acme Corp", "partner"),
        ("Name", ["a"], "label"),
    ],
)
def test_to_local_names_entity_field_and_value_on_a_bad_value(
    crm: str, bad: Any, local: str
) -> None:
    """Given an unconvertible value, MappingError (skippable) names entity, field and value."""
    with pytest.raises(MappingError) as info:
        to_local(THING, {**ROW, crm: bad})
    err = info.value
    assert isinstance(err, SkippableError)
    assert (err.entity, err.field, err.value) == ("thing", local, bad)
    assert f"thing.{local} (Thing__c.{crm})" in str(err)
    assert repr(bad) in str(err)


def test_to_crm_writes_only_outbound_fields_by_crm_name() -> None:
    """in-only and unknown names are left out; values take their wire form."""
    payload = to_crm(THING, {
        "label": "ignored (in only)",
        "unknown": 1,
        "partner": PARTNER_ID,
        "stage": "lost",
        "price": 3.5,
        "points": 7,
        "tier": "Gold",
    })
    assert payload == {
        "Partner__c": PARTNER_ID,
        "Stage__c": "Closed Lost",
        "Price__c": 3.5,
        "Points__c": 7.0,
        "Tier__c": "Gold",
    }


def test_to_crm_writes_dates_and_datetimes_as_salesforce_text() -> None:
    spec = loads_mapping("""
entities:
  t:
    sobject: Task
    fields:
      day: {crm: ActivityDate, type: date, direction: both}
      at: {crm: Reminder__c, type: datetime, direction: both}
""")
    got = to_crm(spec.entities["t"], {
        "day": date(2026, 1, 2), "at": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    })
    assert got == {"ActivityDate": "2026-01-02", "Reminder__c": "2026-01-02T03:04:05.678Z"}


def test_to_crm_clears_a_field_with_null() -> None:
    assert to_crm(THING, {"tier": None, "points": None}) == {"Tier__c": None, "Points__c": None}


def test_to_crm_names_the_field_on_a_bad_local_value() -> None:
    with pytest.raises(MappingError) as info:
        to_crm(THING, {"points": "lots"})
    assert info.value.field == "points"
    assert "thing.points (Thing__c.Points__c)" in str(info.value)


# -- diff and fingerprint -----------------------------------------------------------------


def test_diff_lists_changed_fields_in_order() -> None:
    old = {"a": 1, "b": "x", "c": True}
    new = {"a": 2, "b": "x", "c": False, "d": "new"}
    assert diff(old, new) == ["a", "c", "d"]


def test_diff_of_a_new_record_lists_its_non_null_fields() -> None:
    assert diff(None, {"a": 1, "b": None}) == ["a"]


def test_diff_treats_one_and_one_point_zero_and_missing_and_null_alike() -> None:
    assert diff({"a": 1, "b": None}, {"a": 1.0}) == []


def test_diff_sees_a_field_that_disappears() -> None:
    assert diff({"a": 1, "b": 2}, {"a": 1}) == ["b"]


def test_diff_never_equates_booleans_and_numbers() -> None:
    assert diff({"a": 1}, {"a": True}) == ["a"]
    assert diff({"a": 0}, {"a": False}) == ["a"]


def test_diff_equates_a_date_and_its_iso_text() -> None:
    """Snapshots hold ISO text; mapped values hold dates."""
    assert diff({"d": "2026-11-22"}, {"d": date(2026, 11, 22)}) == []


def test_fingerprint_is_32_hex_and_independent_of_key_order() -> None:
    a = fingerprint({"x": 1, "y": "b"})
    assert len(a) == 32 and int(a, 16) >= 0
    assert a == fingerprint({"y": "b", "x": 1.0})
    assert a != fingerprint({"x": 2, "y": "b"})


def test_fingerprint_is_stable_across_runs() -> None:
    """A known value: snapshot hashes stored yesterday must still match today."""
    assert fingerprint({"name": "Acme", "day": date(2026, 1, 2)}) == fingerprint(
        {"day": "2026-01-02", "name": "Acme"}
    )
    assert fingerprint({}) == "44136fa355b3678a1146ad16f7e8649e"


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.dates(),
)
records = st.dictionaries(st.sampled_from(list("abcdef")), scalars, max_size=6)


@given(records)
def test_a_record_never_differs_from_itself(r: dict[str, Any]) -> None:
    assert diff(r, dict(r)) == []
    assert diff(r, dict(reversed(list(r.items())))) == []


@given(records, records)
def test_fingerprints_agree_exactly_when_diff_is_empty(
    a: dict[str, Any], b: dict[str, Any]
) -> None:
    """Equal hash <=> no changed field (reconcile relies on the hash, triggers on diff)."""
    assert (fingerprint(a) == fingerprint(b)) == (diff(a, b) == [])


@given(records, records)
def test_diff_is_symmetric_as_a_set(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert set(diff(a, b)) == set(diff(b, a))


def test_an_entity_reads_in_and_both_fields_and_writes_out_and_both_fields() -> None:
    """The SELECT list and the write-back payload come from each field's direction."""
    assert THING.inbound_fields() == [
        "Name",
        "Flag__c",
        "Ratio__c",
        "Count__c",
        "Day__c",
        "At__c",
        "Partner__c",
        "Stage__c",
        "Domain__c",
        "Price__c",
    ]
    assert THING.outbound_fields() == ["Partner__c", "Stage__c", "Price__c", "Points__c", "Tier__c"]
    assert THING.lookups() == {"partner": "partner"}
