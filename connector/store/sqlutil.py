"""Small Core helpers shared by the repository modules: dialect upserts, IN-list chunks, JSON."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["MAX_IN_PARAMS", "chunks", "from_json_safe", "to_json_safe", "upsert_stmt"]

# SQLite builds before 3.32 allow 999 host parameters per statement; stay under that anywhere.
MAX_IN_PARAMS = 900
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = MAX_IN_PARAMS) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert_stmt(conn: Connection, table: Table) -> Any:
    """An INSERT that supports ``on_conflict_do_update/nothing`` on this connection's dialect."""
    name = conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {name}")


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _safe(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def to_json_safe(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with dates and datetimes as ISO text and Decimals as floats (JSON columns)."""
    return {k: _safe(v) for k, v in values.items()}


def from_json_safe(values: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """Undo to_json_safe for the fields ``types`` (local type names) says are dates/datetimes."""
    out = dict(values)
    for key, kind in types.items():
        value = out.get(key)
        if not isinstance(value, str):
            continue
        if kind == "date":
            out[key] = date.fromisoformat(value)
        elif kind == "datetime":
            out[key] = datetime.fromisoformat(value)
    return out
