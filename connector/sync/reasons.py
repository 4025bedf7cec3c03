"""One-line, value-free reasons for errors kept in the store (last_error, dead letters, runs).

A SQLAlchemy error's text carries the statement and its parameters, i.e. other records'
values; only the driver's own first line is kept, and no message grows past a bound.
"""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError, StatementError

from connector.errors import ConnectorError

__all__ = ["MAX_REASON", "safe_reason"]

MAX_REASON = 500


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."


def safe_reason(err: BaseException) -> str:
    """What went wrong in one line, without SQL text or parameters."""
    if isinstance(err, ConnectorError):
        return _first_line(err.message) or type(err).__name__
    if isinstance(err, StatementError) and err.orig is not None:
        orig = err.orig
        return _first_line(f"{type(orig).__name__}: {orig}")
    if isinstance(err, SQLAlchemyError):
        # Never str(err) here: it may quote the statement with its parameters.
        return type(err).__name__
    return _first_line(f"{type(err).__name__}: {err}")
