"""Bulk CSV date-times become the REST form, by the shortcut or by formatting: the same text."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from connector.salesforce.bulk import _datetime, format_sf_datetime
from connector.salesforce.results import parse_sf_datetime

STAMPS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1))


@given(STAMPS, st.sampled_from(["Z", "+0000", "+00:00"]))
def test_bulk_datetimes_read_like_rest(value: datetime, suffix: str) -> None:
    """Whatever suffix the CSV uses, the row holds ``...mmm+0000`` for the same instant."""
    text = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}{suffix}"
    converted = _datetime(text)
    assert converted == format_sf_datetime(parse_sf_datetime(text))  # type: ignore[arg-type]
    assert parse_sf_datetime(converted) == parse_sf_datetime(text)
    assert converted.endswith("+0000") and len(converted) == 28
    assert parse_sf_datetime(converted) == value.replace(
        microsecond=value.microsecond // 1000 * 1000, tzinfo=UTC
    )
