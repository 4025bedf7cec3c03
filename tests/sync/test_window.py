"""Poll windows and cursors: invariant 1 as small pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connector.sync.window import (
    Window,
    advance_cursor,
    format_soql_datetime,
    parse_sf_datetime,
    poll_window,
    select_soql,
    split_window,
)

T0 = datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC)


def test_first_window_is_open_at_the_start_and_ends_at_the_signpost() -> None:
    """Given no cursor, the window reads everything up to now minus the skew."""
    w = poll_window(None, T0, lag_seconds=300, skew_seconds=2)
    assert w == Window(None, T0 - timedelta(seconds=2))


def test_window_reaches_back_by_the_lag_and_is_inclusive() -> None:
    """Given a cursor, the next window starts lag seconds before it (late commits)."""
    cursor = T0 - timedelta(minutes=1)
    w = poll_window(cursor, T0, lag_seconds=300, skew_seconds=2)
    assert w.start == cursor - timedelta(seconds=300)
    soql = select_soql("Account", ["Name"], w)
    assert "SystemModstamp >= 2026-11-22T10:10:09.000Z" in soql
    assert "SystemModstamp <= 2026-11-22T10:16:07.000Z" in soql
    assert " > " not in soql.replace(">=", "")
    assert soql.endswith("ORDER BY SystemModstamp ASC, Id ASC")


def test_select_soql_puts_system_fields_first_without_duplicates_and_wraps_the_filter() -> None:
    """Mapped fields follow Id, SystemModstamp, LastModifiedById, IsDeleted exactly once."""
    soql = select_soql(
        "Account", ["Name", "Id", "IsPartner"], None, filter="IsPartner = true OR X = 1"
    )
    assert soql.startswith(
        "SELECT Id, SystemModstamp, LastModifiedById, IsDeleted, Name, IsPartner"
    )
    assert "WHERE (IsPartner = true OR X = 1) ORDER BY" in soql


def test_cursor_never_passes_the_signpost_and_never_goes_back() -> None:
    """The cursor takes the page's newest stamp, capped at the signpost, monotonic."""
    signpost = T0
    assert advance_cursor(None, T0 + timedelta(seconds=5), signpost) == signpost
    earlier = T0 - timedelta(seconds=10)
    assert advance_cursor(T0 - timedelta(seconds=5), earlier, signpost) == T0 - timedelta(seconds=5)
    assert advance_cursor(earlier, None, signpost) == earlier


@given(
    stamps=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=60),
    page=st.integers(min_value=1, max_value=7),
    late=st.integers(min_value=0, max_value=50),
)
def test_paging_with_inclusive_cursor_sees_every_row_including_ties_and_late_commits(
    stamps: list[int], page: int, late: int
) -> None:
    """Simulate pages committed one at a time plus a row committed late at an old stamp.

    Every row must be seen at least once: ties split across pages and a late row whose stamp
    is inside the lag window are both re-read by the inclusive window.
    """
    lag = 60
    rows = sorted((T0 + timedelta(seconds=s), f"id{i:03d}") for i, s in enumerate(stamps))
    seen: set[str] = set()
    cursor: datetime | None = None
    signpost = T0 + timedelta(seconds=100)
    # first cycle: read in pages of `page`, committing the cursor after each page
    for i in range(0, len(rows), page):
        chunk = rows[i : i + page]
        seen.update(r[1] for r in chunk)
        cursor = advance_cursor(cursor, max(r[0] for r in chunk), signpost)
    cursor = advance_cursor(cursor, signpost, signpost)
    # a row committed after the query ran, stamped inside the lag window
    late_row = (signpost - timedelta(seconds=late % lag), "late")
    w = poll_window(cursor, signpost + timedelta(seconds=30), lag_seconds=lag, skew_seconds=2)
    visible = [
        r for r in [*rows, late_row] if (w.start is None or r[0] >= w.start) and r[0] <= w.end
    ]
    seen.update(r[1] for r in visible)
    assert seen == {r[1] for r in rows} | {"late"}


def test_split_window_halves_until_a_second() -> None:
    """A timed-out query is narrowed to two halves that cover the window exactly."""
    w = Window(T0, T0 + timedelta(hours=2))
    first, second = split_window(w, T0) or (None, None)
    assert first is not None and second is not None
    assert first.start == w.start and second.end == w.end and first.end == second.start
    assert split_window(Window(T0, T0 + timedelta(milliseconds=500)), T0) is None


def test_datetime_round_trip_between_salesforce_and_soql_forms() -> None:
    """Salesforce's +0000 output parses to the instant SOQL gets back, offsets respected."""
    assert parse_sf_datetime("2026-11-22T10:16:09.000+0000") == T0
    assert parse_sf_datetime("2026-11-22T12:16:09+02:00") == T0
    assert parse_sf_datetime("2026-11-22T10:16:09Z") == T0
    assert format_soql_datetime(parse_sf_datetime("2026-11-22T10:16:09.123+0000")) == (
        "2026-11-22T10:16:09.123Z"
    )
