"""The replication resources ``sobjects/X/updated`` and ``sobjects/X/deleted`` (pure).

As Salesforce documents them (REST "sObject Get Updated" / "Get Deleted", SOAP getUpdated /
GetDeletedResult):
- the seconds of start and end are ignored (both are cut to the minute);
- the window must span more than one minute;
- ``latestDateCovered`` is never later than the present (the org's clock, cut to the minute):
  the caller starts its next window there, so a change in the current minute is not lost;
- ``earliestDateAvailable`` is the time of the last physically deleted (purged) record of the
  object; with none purged, the org's creation;
- updated looks back 30 days at most, deleted 15; at most 600,000 ids per answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from connector.emulator.errors import ApiError
from connector.emulator.values import format_datetime

__all__ = ["MAX_IDS", "deleted_result", "updated_result", "window"]

MAX_IDS = 600_000


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def window(start: datetime, end: datetime, now: datetime, *, days: int) -> tuple[str, str]:
    """The checked window as internal datetime strings (lo, hi), hi = latestDateCovered."""
    lo, hi = _minute(start), _minute(end)
    if hi - lo <= timedelta(minutes=1):
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    if lo < now - timedelta(days=days):
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago"
        )
    return format_datetime(lo), format_datetime(min(hi, _minute(now)))


def _limit(n: int) -> None:
    if n > MAX_IDS:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", f"more than {MAX_IDS} ids: choose a shorter window"
        )


def updated_result(
    rows: Iterable[dict[str, Any]], start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    """``updated``: live records whose SystemModstamp falls in the covered window."""
    lo, hi = window(start, end, now, days=30)
    ids = [r["Id"] for r in rows if not r["IsDeleted"] and lo <= r["SystemModstamp"] <= hi]
    _limit(len(ids))
    return {"ids": ids, "latestDateCovered": hi}


def deleted_result(
    log: Iterable[tuple[str, str]],
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    last_purge: str,
) -> dict[str, Any]:
    """``deleted``: (id, deletedDate) entries of the delete log inside the covered window."""
    lo, hi = window(start, end, now, days=15)
    rows = [{"id": rid, "deletedDate": when} for rid, when in log if lo <= when <= hi]
    _limit(len(rows))
    return {"deletedRecords": rows, "earliestDateAvailable": last_purge,
            "latestDateCovered": hi}
