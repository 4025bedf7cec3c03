"""Poll windows and cursors: small pure functions, tested apart from any I/O.

Invariant 1 of the architecture lives here: the window is inclusive at both ends,
``SystemModstamp >= cursor - lag AND SystemModstamp <= signpost``, ordered by
``SystemModstamp, Id``; the signpost is the cycle's start minus a small skew, and the cursor
never passes it. Rows seen twice are deduplicated downstream on (Id, SystemModstamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connector.sftime import parse_sf_datetime

__all__ = [
    "SYSTEM_FIELDS",
    "Window",
    "advance_cursor",
    "format_soql_datetime",
    "parse_sf_datetime",
    "poll_window",
    "select_soql",
    "split_window",
]

# Always selected by the poller; never mapped as local fields.
SYSTEM_FIELDS: tuple[str, ...] = ("Id", "SystemModstamp", "LastModifiedById", "IsDeleted")


@dataclass(frozen=True)
class Window:
    """An inclusive SystemModstamp range; ``start`` None means "from the beginning"."""

    start: datetime | None
    end: datetime


def poll_window(
    cursor: datetime | None, now: datetime, *, lag_seconds: float, skew_seconds: float
) -> Window:
    """The next window: from ``cursor - lag`` (inclusive) to the signpost ``now - skew``."""
    end = now - timedelta(seconds=skew_seconds)
    if cursor is None:
        return Window(None, end)
    start = cursor - timedelta(seconds=lag_seconds)
    return Window(min(start, end), end)


def split_window(window: Window, floor: datetime) -> tuple[Window, Window] | None:
    """Halve a window (to narrow a query that timed out); None when it cannot shrink further.

    ``floor`` stands in for an open start (the org's earliest record or the epoch of the run).
    """
    start = window.start or floor
    if window.end - start <= timedelta(seconds=1):
        return None
    mid = start + (window.end - start) / 2
    mid = mid.replace(microsecond=(mid.microsecond // 1000) * 1000)
    return Window(window.start, mid), Window(mid, window.end)


def advance_cursor(
    cursor: datetime | None, page_max: datetime | None, signpost: datetime
) -> datetime | None:
    """The cursor after a committed page: the page's newest stamp, never past the signpost.

    Rows after that stamp may still be unread (the next page), rows *at* it may continue on the
    next page: the inclusive window re-reads them and the dedupe drops the copies.
    """
    if page_max is None:
        return cursor
    candidate = min(page_max, signpost)
    if cursor is None or candidate > cursor:
        return candidate
    return cursor


def format_soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (unquoted, UTC, millisecond precision)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def select_soql(
    sobject: str,
    fields: Sequence[str],
    window: Window | None,
    *,
    filter: str | None = None,
    order: bool = True,
) -> str:
    """The poll query: system fields + mapped fields, the inclusive window, stable order."""
    seen: dict[str, None] = {}
    for name in (*SYSTEM_FIELDS, *fields):
        seen.setdefault(name, None)
    conditions: list[str] = []
    if filter:
        conditions.append(f"({filter})")
    if window is not None:
        if window.start is not None:
            conditions.append(f"SystemModstamp >= {format_soql_datetime(window.start)}")
        conditions.append(f"SystemModstamp <= {format_soql_datetime(window.end)}")
    soql = f"SELECT {', '.join(seen)} FROM {sobject}"
    if conditions:
        soql += " WHERE " + " AND ".join(conditions)
    if order:
        soql += " ORDER BY SystemModstamp ASC, Id ASC"
    return soql
