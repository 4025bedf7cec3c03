"""Plain result types returned by the client (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connector.salesforce.errors import ErrorAction, classify
from connector.sftime import parse_sf_datetime as _parse

__all__ = ["DeletedResult", "RecordError", "RecordResult", "parse_sf_datetime"]


@dataclass(frozen=True)
class RecordError:
    """One error Salesforce reported for a record."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RecordResult:
    """The outcome for one input record; ``index`` is its position in the input.

    ``action`` is None on success, else what to do about the failure (DEAD_LETTER, RETRY...).
    """

    index: int
    id: str | None
    success: bool
    created: bool = False
    errors: list[RecordError] = field(default_factory=list)
    action: ErrorAction | None = None

    @classmethod
    def failed(cls, index: int, id_: str | None, errors: list[RecordError]) -> RecordResult:
        """A failure, classified by its first error."""
        first = errors[0] if errors else RecordError("UNKNOWN_EXCEPTION", "no error given")
        return cls(
            index=index,
            id=id_,
            success=False,
            errors=errors,
            action=classify(400, first.code, first.message),
        )


@dataclass(frozen=True)
class DeletedResult:
    """The ``sobjects/X/deleted/`` answer."""

    records: list[tuple[str, datetime]]
    earliest_date_available: datetime | None
    latest_date_covered: datetime | None


def parse_sf_datetime(value: str | None) -> datetime | None:
    """``2026-11-22T10:16:09.000+0000`` (or ``Z`` / ``+00:00``) -> aware datetime."""
    return _parse(value) if value else None
