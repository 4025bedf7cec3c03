"""Salesforce date-times: the one parser every package uses (pure, no dependencies).

Python 3.11's ``datetime.fromisoformat`` reads Salesforce's ``2026-11-22T10:16:09.000+0000``
(the offset without a colon) as well as ``Z`` and ``+00:00``, in C: no rewriting needed.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_sf_datetime"]


def parse_sf_datetime(text: str) -> datetime:
    """``2026-11-22T10:16:09.000+0000`` (or ``Z``, ``+00:00``; naive means UTC) as aware UTC.

    Raises ValueError on text that is not an ISO 8601 date-time.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.strip())  # tolerate padding; else the error stands
    tz = parsed.tzinfo
    if tz is None:
        return parsed.replace(tzinfo=UTC)
    if tz is UTC:
        return parsed
    return parsed.astimezone(UTC)
