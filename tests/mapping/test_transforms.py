"""Named transforms: each converts both ways, rejects what it cannot convert, passes nulls."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from connector.mapping.transforms import REGISTRY, Pipeline, build_pipeline, default_for_type


def build(name: str, **args: Any) -> Any:
    return REGISTRY[name].build(**args)


@pytest.mark.parametrize("name", sorted(set(REGISTRY) - {"default"}))
def test_every_transform_passes_null_both_ways(name: str) -> None:
    """Given a null field, every transform but default keeps it null."""
    t = build(name, **({"digits": 2} if name == "round" else {}))
    assert t.to_local(None) is None
    assert t.to_crm(None) is None


@pytest.mark.parametrize(
    ("name", "crm", "local"),
    [
        ("identity", {"a": 1}, {"a": 1}),
        ("string", "Acme", "Acme"),
        ("string", 42, "42"),
        ("trim", "  Acme ", "Acme"),
        ("lower", "ACME.com", "acme.com"),
        ("upper", "gold", "GOLD"),
        ("number", 12, 12.0),
        ("number", "12.5", 12.5),
        ("integer", 3.0, 3),
        ("integer", "7", 7),
        ("boolean", True, True),
        ("boolean", "false", False),
        ("boolean", "TRUE", True),
        ("boolean", 1, True),
        ("boolean", 0, False),
        ("date", "2026-11-22", date(2026, 11, 22)),
        ("id", "001000000000001AAA", "001000000000001AAA"),
    ],
)
def test_to_local_converts_the_wire_value(name: str, crm: Any, local: Any) -> None:
    """Given a Salesforce JSON value, to_local gives the typed local value."""
    got = build(name).to_local(crm)
    assert got == local
    assert type(got) is type(local)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("string", {"x": 1}),
        ("string", True),
        ("number", "twelve"),
        ("number", True),
        ("number", float("nan")),
        ("integer", 2.5),
        ("integer", "2.5x"),
        ("boolean", "maybe"),
        ("boolean", 2),
        ("date", "22/11/2026"),
        ("date", "2026-02-30"),
        ("date", "2026-11-22T10:00:00Z"),
        ("datetime", "yesterday"),
        ("datetime", 1700000000),
        ("id", "not an id"),
    ],
)
def test_to_local_rejects_values_it_cannot_convert(name: str, bad: Any) -> None:
    """Given a value outside the transform's domain, to_local raises ValueError."""
    with pytest.raises(ValueError):
        build(name).to_local(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T10:16:09.000+0000", datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC)),
        ("2026-11-22T10:16:09Z", datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC)),
        ("2026-11-22T10:16:09.123456Z", datetime(2026, 11, 22, 10, 16, 9, 123000, tzinfo=UTC)),
        ("2026-11-22T12:16:09.5+02:00", datetime(2026, 11, 22, 10, 16, 9, 500000, tzinfo=UTC)),
        ("2026-11-22T05:16:09.000-0500", datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC)),
        ("2026-11-22T10:16:09", datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC)),
    ],
)
def test_datetime_reads_salesforce_and_iso_forms_as_utc(text: str, expected: datetime) -> None:
    """Given any Salesforce or ISO date-time, to_local gives an aware UTC datetime to the ms."""
    got = build("datetime").to_local(text)
    assert got == expected
    assert got.utcoffset() == timedelta(0)


def test_datetime_writes_the_salesforce_form() -> None:
    """to_crm writes UTC with milliseconds and Z, whatever the input's zone."""
    t = build("datetime")
    cet = timezone(timedelta(hours=1))
    assert t.to_crm(datetime(2026, 11, 22, 11, 16, 9, 7000, tzinfo=cet)) == (
        "2026-11-22T10:16:09.007Z"
    )
    assert t.to_crm(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000Z"


def test_date_writes_iso_text() -> None:
    assert build("date").to_crm(date(2026, 1, 2)) == "2026-01-02"


def test_round_rounds_to_the_given_digits() -> None:
    t = build("round", digits=2)
    assert t.to_local(10.005001) == 10.01
    assert t.to_local("3") == 3.0
    assert t.local_type == "float"


def test_default_fills_nulls_inbound_only() -> None:
    """default(value) replaces a null on the way in; outbound values pass unchanged."""
    t = build("default", value="Prospect")
    assert t.to_local(None) == "Prospect"
    assert t.to_local("Active") == "Active"
    assert t.to_crm(None) is None


def test_a_pipeline_runs_forward_in_and_backward_out() -> None:
    """trim then lower on the way in; the reverse order on the way out."""
    p = Pipeline((build("trim"), build("lower")))
    assert p.to_local("  ACME.com ") == "acme.com"
    assert p.to_crm("acme.com") == "acme.com"
    assert p.local_type == "str"


def test_a_pipeline_without_a_converter_gets_the_types_converter() -> None:
    """default(0) alone on a float field still yields floats."""
    p = build_pipeline([build("default", value=0)], "float")
    assert p.to_local(None) == 0.0
    assert isinstance(p.to_local(None), float)
    assert p.to_local("2.5") == 2.5


@pytest.mark.parametrize(
    ("local_type", "name"),
    [("str", "string"), ("bool", "boolean"), ("float", "number"), ("int", "integer"),
     ("date", "date"), ("datetime", "datetime"), ("lookup", "id")],
)
def test_each_local_type_has_a_default_converter(local_type: Any, name: str) -> None:
    assert default_for_type(local_type).name == name
