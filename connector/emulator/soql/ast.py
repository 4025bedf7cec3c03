"""The parsed form of a SOQL query: immutable, so parsed queries can be cached and shared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "Aggregate",
    "And",
    "Comparison",
    "Condition",
    "FieldRef",
    "FieldsMacro",
    "InList",
    "InSubquery",
    "Includes",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "SelectItem",
    "SubQuery",
]


@dataclass(frozen=True)
class FieldRef:
    """A dotted field path as written (``Owner.Name``, ``a.Name``); ``pos`` is its offset."""

    path: tuple[str, ...]
    pos: int
    alias: str | None = None


@dataclass(frozen=True)
class Aggregate:
    """``COUNT()``, ``COUNT(f)``, ``COUNT_DISTINCT(f)``, ``SUM/MIN/MAX/AVG(f)``."""

    func: str  # upper case
    field: FieldRef | None
    pos: int
    alias: str | None = None


@dataclass(frozen=True)
class FieldsMacro:
    """``FIELDS(ALL|STANDARD|CUSTOM)``."""

    kind: str
    pos: int


@dataclass(frozen=True)
class SubQuery:
    """A child relationship subquery in the SELECT list."""

    query: Query
    pos: int


SelectItem = FieldRef | Aggregate | FieldsMacro | SubQuery


@dataclass(frozen=True)
class Literal:
    """A value in WHERE/HAVING.

    ``kind`` is one of string, number, boolean, null, date (``value`` "YYYY-MM-DD"),
    datetime (``value`` in the internal UTC form) or relative (``value`` (NAME, n or None)).
    """

    kind: str
    value: Any
    pos: int


@dataclass(frozen=True)
class Comparison:
    lhs: FieldRef | Aggregate
    op: str  # = != < <= > >= LIKE
    value: Literal
    pos: int


@dataclass(frozen=True)
class InList:
    lhs: FieldRef | Aggregate
    negate: bool
    values: tuple[Literal, ...]
    pos: int


@dataclass(frozen=True)
class InSubquery:
    lhs: FieldRef
    negate: bool
    query: Query
    pos: int


@dataclass(frozen=True)
class Includes:
    """``INCLUDES`` / ``EXCLUDES`` on a multi-select picklist."""

    lhs: FieldRef
    negate: bool
    values: tuple[Literal, ...]
    pos: int


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Comparison | InList | InSubquery | Includes | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    expr: FieldRef | Aggregate
    descending: bool
    nulls_first: bool | None  # None: Salesforce's default (ASC first, DESC last)


@dataclass(frozen=True)
class Query:
    """One SELECT statement. ``text`` is the whole original query (for error messages)."""

    text: str
    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: int
    alias: str | None = None
    where: Condition | None = None
    group_by: tuple[FieldRef, ...] = ()
    having: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None
    offset_pos: int = 0
    limit_pos: int = 0
    for_clause: tuple[str, ...] = ()
