"""Date and datetime literals and the relative date literals (TODAY, LAST_N_DAYS:n ...).

Relative literals are ranges ``[start, end)`` of days, computed in UTC from ``now``; weeks
start on Sunday (the en_US locale) and quarters are calendar quarters.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "FIXED_LITERALS",
    "N_LITERALS",
    "date_literal",
    "datetime_literal",
    "day_start",
    "relative_range",
]

FIXED_LITERALS = frozenset(
    {
        "YESTERDAY",
        "TODAY",
        "TOMORROW",
        "LAST_WEEK",
        "THIS_WEEK",
        "NEXT_WEEK",
        "LAST_MONTH",
        "THIS_MONTH",
        "NEXT_MONTH",
        "LAST_90_DAYS",
        "NEXT_90_DAYS",
        "THIS_QUARTER",
        "LAST_QUARTER",
        "NEXT_QUARTER",
        "THIS_YEAR",
        "LAST_YEAR",
        "NEXT_YEAR",
    }
)
N_LITERALS = frozenset(
    {
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "LAST_N_WEEKS",
        "NEXT_N_WEEKS",
        "LAST_N_MONTHS",
        "NEXT_N_MONTHS",
        "LAST_N_QUARTERS",
        "NEXT_N_QUARTERS",
        "LAST_N_YEARS",
        "NEXT_N_YEARS",
    }
)

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):?(\d{2}))\Z"
)


def date_literal(text: str) -> str | None:
    """``YYYY-MM-DD`` validated as a calendar date, or None when it is not one."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None


def datetime_literal(text: str) -> str | None:
    """A SOQL datetime literal as the internal UTC string, or None when invalid.

    Whole milliseconds give the stored form ``YYYY-MM-DDTHH:MM:SS.fff+0000``; finer fractions
    keep six digits, which still orders correctly against stored ``.fff`` values.
    """
    m = _DATETIME_RE.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:6].ljust(6, "0")
    try:
        value = datetime(year, month, day, hour, minute, second, int(frac), tzinfo=UTC)
    except ValueError:
        return None
    if m.group(8) != "Z":
        hours, minutes = int(m.group(10)), int(m.group(11))
        if hours > 23 or minutes > 59:
            return None
        delta = timedelta(hours=hours, minutes=minutes)
        value = value - delta if m.group(9) == "+" else value + delta
    return format_instant(value)


def format_instant(value: datetime) -> str:
    """The internal form of an aware datetime (microseconds kept only when not whole ms)."""
    value = value.astimezone(UTC)
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond % 1000 == 0:
        return f"{base}.{value.microsecond // 1000:03d}+0000"
    return f"{base}.{value.microsecond:06d}+0000"


def day_start(day: date) -> str:
    """Midnight UTC of ``day`` in the internal datetime form."""
    return f"{day.isoformat()}T00:00:00.000+0000"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def relative_range(name: str, n: int | None, today: date) -> tuple[date, date]:
    """The ``[start, end)`` day range of a relative date literal on ``today``."""
    week = today - timedelta(days=(today.weekday() + 1) % 7)
    month = today.replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year = date(today.year, 1, 1)
    one = timedelta(days=1)
    fixed: dict[str, tuple[date, date]] = {
        "YESTERDAY": (today - one, today),
        "TODAY": (today, today + one),
        "TOMORROW": (today + one, today + 2 * one),
        "LAST_WEEK": (week - 7 * one, week),
        "THIS_WEEK": (week, week + 7 * one),
        "NEXT_WEEK": (week + 7 * one, week + 14 * one),
        "LAST_MONTH": (_add_months(month, -1), month),
        "THIS_MONTH": (month, _add_months(month, 1)),
        "NEXT_MONTH": (_add_months(month, 1), _add_months(month, 2)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
        "LAST_QUARTER": (_add_months(quarter, -3), quarter),
        "THIS_QUARTER": (quarter, _add_months(quarter, 3)),
        "NEXT_QUARTER": (_add_months(quarter, 3), _add_months(quarter, 6)),
        "LAST_YEAR": (_add_months(year, -12), year),
        "THIS_YEAR": (year, _add_months(year, 12)),
        "NEXT_YEAR": (_add_months(year, 12), _add_months(year, 24)),
    }
    if name in fixed:
        return fixed[name]
    k = n or 0
    ranges: dict[str, tuple[date, date]] = {
        # LAST_N_DAYS includes today (LAST_N_DAYS:1 is yesterday and today).
        "LAST_N_DAYS": (today - k * one, today + one),
        "NEXT_N_DAYS": (today + one, today + (k + 1) * one),
        "LAST_N_WEEKS": (week - 7 * k * one, week),
        "NEXT_N_WEEKS": (week + 7 * one, week + 7 * (k + 1) * one),
        "LAST_N_MONTHS": (_add_months(month, -k), month),
        "NEXT_N_MONTHS": (_add_months(month, 1), _add_months(month, k + 1)),
        "LAST_N_QUARTERS": (_add_months(quarter, -3 * k), quarter),
        "NEXT_N_QUARTERS": (_add_months(quarter, 3), _add_months(quarter, 3 * (k + 1))),
        "LAST_N_YEARS": (_add_months(year, -12 * k), year),
        "NEXT_N_YEARS": (_add_months(year, 12), _add_months(year, 12 * (k + 1))),
    }
    return ranges[name]


def today_of(now: datetime) -> date:
    """The UTC calendar day of ``now`` (naive datetimes are taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).date()
