"""Small Core helpers shared by the repository modules: dialect upserts, IN-list chunks, JSON."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Connection, Table

__all__ = [
    "MAX_IN_PARAMS",
    "chunks",
    "executemany",
    "from_json_safe",
    "to_json_safe",
    "upsert_stmt",
]

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
    # Imported here: the PostgreSQL dialect module costs ~80 ms to import, which a command on a
    # SQLite store (or one that never writes) should not pay.
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {name}")


def executemany(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(stmt, rows)`` for rows that all have the same keys, minus SQLAlchemy's
    per-row parameter assembly (the hot spot of a 2,000-row page).

    The statement is compiled once; each value goes through its column type's own bind
    processor, straight to the driver's executemany. Anything unusual (defaults computed per
    row, escaped names, few rows) takes the ordinary path.
    """
    if len(rows) < 8:
        conn.execute(stmt, list(rows))
        return
    keys = list(rows[0])
    compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
    positional = compiled.positiontup
    names = list(positional) if positional is not None else list(compiled.binds)
    if (
        sorted(names) != sorted(keys)
        or len(set(names)) != len(names)
        or getattr(compiled, "escaped_bind_names", None)
        or any(len(row) != len(keys) for row in rows)
    ):
        conn.execute(stmt, list(rows))
        return
    procs = compiled._bind_processors
    if positional is not None and len(names) > 1:
        params: list[Any] = _positional_params(rows, names, procs)
    else:
        plan = [(name, procs.get(name)) for name in names]
        params = [{n: p(row[n]) if p is not None else row[n] for n, p in plan} for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _positional_params(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], procs: Mapping[str, Any]
) -> list[Any]:
    """Each row's values in ``names`` order, through the processors of the columns that have
    one; a value that is the same object as the row before's (a batch's "now") is processed
    once."""
    getter = itemgetter(*names)
    processed = [(i, procs[n]) for i, n in enumerate(names) if procs.get(n) is not None]
    if not processed:
        return [getter(row) for row in rows]
    last: list[Any] = [_UNSET] * len(names)
    done: list[Any] = [None] * len(names)
    out: list[Any] = []
    for row in rows:
        values = list(getter(row))
        for i, proc in processed:
            value = values[i]
            if value is not last[i]:
                last[i] = value
                done[i] = proc(value)
            values[i] = done[i]
        out.append(tuple(values))
    return out


_UNSET = object()
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
    for v in values.values():
        if type(v) not in _PLAIN:
            return {k: _safe(v) for k, v in values.items()}
    return dict(values)  # already plain: a copy without a call per value


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
