"""Column types shared by the store's tables: UTC datetimes and nullable JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["JSONValue", "UTCDateTime", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; naive values are taken to be UTC already.

    SQLite keeps no offset, so without this a value written as 12:00+02:00 would read back as
    a naive 12:00; PostgreSQL returns the session's zone. Both read back as aware UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        # SQLite: the same text SQLAlchemy's DATETIME writes, built by the C isoformat (the
        # generic processor is the hot spot of a 2,000-row upsert).
        return _sqlite_bind

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_result

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def JSONValue() -> Any:
    """A JSON column where Python None is SQL NULL (not the JSON text 'null')."""
    return JSON(none_as_null=True)


# A page writes each row's SystemModstamp three times (the row, its snapshot, its change-log
# entry): the text is made once per value. Equal datetimes are the same instant, which gives
# the same text; the cache holds more than a Bulk results page of values.
@lru_cache(maxsize=16_384)
def _sqlite_bind(value: datetime | None) -> str | None:
    if value is None:
        return None
    tz = value.tzinfo
    if tz is UTC:  # the common case: drop the "+00:00" instead of copying the datetime
        return value.isoformat(" ", "microseconds")[:-6]
    if tz is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _sqlite_result(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
