"""``sobjects/X/updated`` and ``/deleted`` as documented, and the connector's use of them.

https://developer.salesforce.com/docs/platform/api-rest/guide/resources-getdeleted.md and
https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_getupdated.htm
(REST); the SOAP GetDeletedResult page
(https://developer.salesforce.com/docs/atlas.en-us.api.meta/object_ref/sforce_api_calls_getdeleted_getdeletedresult.htm)
defines earliestDateAvailable and latestDateCovered.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connector.emulator.errors import ApiError
from connector.emulator.org import Org
from connector.emulator.replication import deleted_result, updated_result, window
from connector.emulator.values import format_datetime

NOW = datetime(2026, 3, 10, 12, 30, 45, 500000, tzinfo=UTC)


def test_seconds_are_ignored_and_coverage_stops_at_the_present() -> None:
    """getUpdated/getDeleted: "the seconds portion of the time is ignored"; latestDateCovered
    is at most endDate and never a time that has not happened yet."""
    lo, hi = window(NOW - timedelta(minutes=10, seconds=7), NOW + timedelta(hours=1), NOW,
                    days=30)
    assert lo == "2026-03-10T12:20:00.000+0000"
    assert hi == "2026-03-10T12:30:00.000+0000"
    _, hi = window(NOW - timedelta(hours=2), NOW - timedelta(minutes=30, seconds=40), NOW,
                   days=30)
    assert hi == "2026-03-10T12:00:00.000+0000"


@pytest.mark.parametrize("span", [timedelta(seconds=30), timedelta(minutes=1),
                                  timedelta(minutes=1, seconds=50)])
def test_the_window_must_exceed_one_minute(span: timedelta) -> None:
    """"startDate must chronologically precede endDate by more than one minute" (after the
    seconds are dropped: 12:00:05 to 12:01:55 is one minute)."""
    start = datetime(2026, 3, 10, 12, 0, 5, tzinfo=UTC)
    with pytest.raises(ApiError) as err:
        window(start, start + span, NOW, days=30)
    assert err.value.code == "INVALID_REPLICATION_DATE"
    window(start, start + timedelta(minutes=2), NOW, days=30)


def test_start_limits() -> None:
    """30 days back for updated, 15 for deleted."""
    with pytest.raises(ApiError):
        window(NOW - timedelta(days=16), NOW, NOW, days=15)
    window(NOW - timedelta(days=16), NOW, NOW, days=30)


def test_updated_and_deleted_results() -> None:
    rows = [
        {"Id": "a", "IsDeleted": False, "SystemModstamp": "2026-03-10T12:29:59.999+0000"},
        {"Id": "b", "IsDeleted": False, "SystemModstamp": "2026-03-10T12:30:10.000+0000"},
        {"Id": "c", "IsDeleted": True, "SystemModstamp": "2026-03-10T12:10:00.000+0000"},
    ]
    out = updated_result(rows, NOW - timedelta(hours=1), NOW + timedelta(hours=1), NOW)
    # b changed inside the current minute: the next window (from latestDateCovered) has it.
    assert out == {"ids": ["a"], "latestDateCovered": "2026-03-10T12:30:00.000+0000"}
    purge = "2026-03-09T08:00:00.000+0000"
    got = deleted_result([("c", "2026-03-10T12:10:00.000+0000")], NOW - timedelta(hours=1),
                         NOW, NOW, last_purge=purge)
    assert got["deletedRecords"] == [{"id": "c", "deletedDate": "2026-03-10T12:10:00.000+0000"}]
    assert got["earliestDateAvailable"] == purge


def test_earliest_date_available_is_the_last_purge() -> None:
    """GetDeletedResult: earliestDateAvailable is "the timestamp ... of the last physically
    deleted object", not the first deletion in the window."""
    org = Org(seed="empty")
    admin = org.users["admin"].id
    start = org.now_dt() - timedelta(minutes=5)
    created = org.created_at
    first = org.create("Account", {"Name": "Soft"}, admin)
    second = org.create("Account", {"Name": "Hard"}, admin)
    org.delete("Account", first, admin)
    end = org.now_dt() + timedelta(minutes=5)
    org.set_clock(offset_seconds=120)
    assert org.deleted("Account", start, end)["earliestDateAvailable"] == created
    org.purge([second])
    purged = org.purged_at["Account"]
    org.set_clock(offset_seconds=240)
    got = org.deleted("Account", start, end + timedelta(minutes=5))
    assert got["earliestDateAvailable"] == purged
    assert {r["id"] for r in got["deletedRecords"]} == {first, second}
    assert got["latestDateCovered"] <= format_datetime(org.now_dt())
