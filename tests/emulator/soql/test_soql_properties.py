"""Property and performance checks for the SystemModstamp window the connector polls with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.emulator.soql import execute, parse

from soqldata import NOW, MemorySource, synthetic

SMALL = synthetic(500)
START = datetime(2026, 1, 1, tzinfo=UTC)
instants = st.integers(min_value=-10, max_value=510).map(lambda s: START + timedelta(seconds=s))
offsets = st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"])


def literal(moment: datetime, offset: str) -> str:
    if offset == "Z":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
    return (moment + delta).strftime("%Y-%m-%dT%H:%M:%S") + offset


def internal(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@settings(max_examples=200)
@given(a=instants, b=instants, off_a=offsets, off_b=offsets)
def test_window_matches_a_python_filter(a: datetime, b: datetime, off_a: str, off_b: str) -> None:
    soql = (
        f"SELECT Id, SystemModstamp FROM Account WHERE SystemModstamp >= {literal(a, off_a)} "
        f"AND SystemModstamp <= {literal(b, off_b)} ORDER BY SystemModstamp, Id"
    )
    got = [r["Id"] for r in execute(parse(soql), SMALL, now=NOW).records]
    rows = [r for r in SMALL.rows["Account"] if internal(a) <= r["SystemModstamp"] <= internal(b)]
    rows.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
    assert got == [r["Id"] for r in rows]


def test_window_over_100k_rows_counts_every_row_inside() -> None:
    """(Its speed is a benchmark's business: no timing assertion on a shared machine.)"""
    big: MemorySource = synthetic(100_000)
    soql = (
        "SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp >= "
        "2026-01-01T02:00:00Z AND SystemModstamp <= 2026-01-02T02:00:00Z "
        "ORDER BY SystemModstamp, Id"
    )
    result = execute(parse(soql), big, now=NOW)
    assert result.total_size == 86_401
