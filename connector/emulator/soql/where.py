"""WHERE / HAVING compiled once into Python closures over a row."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.emulator.soql import ast
from connector.emulator.soql.dates import day_start, relative_range, today_of
from connector.emulator.soql.resolve import Context, Getter, Row

__all__ = ["Operand", "Predicate", "compile_condition", "like_regex"]

Predicate = Callable[[Row], bool]

TEXT_TYPES = frozenset(
    {"string", "textarea", "picklist", "email", "url", "phone", "combobox", "encryptedstring"}
)
ID_TYPES = frozenset({"id", "reference"})
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int", "long"})
_SOAP_NAMES = {
    "boolean": "boolean",
    "date": "date",
    "datetime": "dateTime",
    "int": "integer",
    "long": "long",
    "double": "double",
    "currency": "double",
    "percent": "double",
}
_ID_RE = re.compile(r"[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?\Z")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Operand:
    """The left-hand side of a predicate: how to read it, its field type and its name."""

    getter: Getter
    type: str
    name: str
    pos: int


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _id15(value: Any) -> Any:
    return value[:15] if isinstance(value, str) else value


def normaliser(ftype: str) -> Callable[[Any], Any] | None:
    """How field values of ``ftype`` are normalised before comparing (None: as stored)."""
    if ftype in TEXT_TYPES or ftype == "multipicklist":
        return _lower
    if ftype in ID_TYPES:
        return _id15
    return None


def like_regex(pattern: str) -> re.Pattern[str]:
    """A LIKE pattern (``\\%``/``\\_`` escaped by the parser) as a case-insensitive regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


class _Compiler:
    def __init__(
        self,
        ctx: Context,
        operand: Callable[[ast.FieldRef | ast.Aggregate], Operand],
        semijoin: Callable[[ast.InSubquery, Operand], set[Any]],
    ) -> None:
        self.ctx = ctx
        self.operand = operand
        self.semijoin = semijoin

    def compile(self, cond: ast.Condition) -> Predicate:
        if isinstance(cond, ast.And):
            return _all([self.compile(c) for c in cond.items])
        if isinstance(cond, ast.Or):
            return _any([self.compile(c) for c in cond.items])
        if isinstance(cond, ast.Not):
            inner = self.compile(cond.item)
            return lambda row: not inner(row)
        if isinstance(cond, ast.Comparison):
            return self.comparison(cond)
        if isinstance(cond, ast.InList):
            return self.in_list(cond)
        if isinstance(cond, ast.InSubquery):
            return self.in_subquery(cond)
        return self.includes(cond)

    # -- literal checks ------------------------------------------------------------------
    def _type_error(self, operand: Operand) -> Exception:
        if operand.type in _SOAP_NAMES:
            wanted, tail = _SOAP_NAMES[operand.type], "should not be enclosed in quotes"
        else:
            wanted, tail = "string", "should be enclosed in quotes"
        return self.ctx.error(
            "INVALID_FIELD",
            operand.pos,
            f"value of filter criterion for field '{operand.name}' must be of type "
            f"{wanted} and {tail}",
        )

    def value(self, operand: Operand, lit: ast.Literal) -> Any:
        """The literal as a comparable value (normalised), a (lo, hi) range, or None."""
        kind, ftype = lit.kind, operand.type
        if kind == "null":
            return None
        if ftype in TEXT_TYPES or ftype == "multipicklist":
            if kind != "string":
                raise self._type_error(operand)
            return lit.value.lower()
        if ftype in ID_TYPES:
            if kind != "string":
                raise self._type_error(operand)
            if not _ID_RE.match(lit.value):
                raise self.ctx.error(
                    "INVALID_QUERY_FILTER_OPERATOR", operand.pos, f"invalid ID field: {lit.value}"
                )
            return lit.value[:15]
        if ftype == "boolean":
            if kind != "boolean":
                raise self._type_error(operand)
            return lit.value
        if ftype in NUMBER_TYPES:
            if kind != "number":
                raise self._type_error(operand)
            return lit.value
        if ftype in ("date", "datetime"):
            if kind == "relative":
                name, n = lit.value
                lo, hi = relative_range(name, n, today_of(self.ctx.now))
                if ftype == "date":
                    return _Range(lo.isoformat(), hi.isoformat())
                return _Range(day_start(lo), day_start(hi))
            if kind != ftype:
                raise self._type_error(operand)
            return lit.value
        # Anything else (time, base64 ...) compares as given.
        return lit.value

    # -- predicates ----------------------------------------------------------------------
    def comparison(self, cond: ast.Comparison) -> Predicate:
        operand = self.operand(cond.lhs)
        get = operand.getter
        norm = normaliser(operand.type)
        if cond.op == "LIKE":
            if operand.type not in TEXT_TYPES and operand.type not in ID_TYPES:
                raise self.ctx.error(
                    "INVALID_FIELD",
                    operand.pos,
                    f"invalid operator on field '{operand.name}': LIKE",
                )
            if cond.value.kind == "null":
                return lambda row: False
            if cond.value.kind != "string":
                raise self._type_error(operand)
            match = like_regex(cond.value.value).fullmatch
            return lambda row: (v := get(row)) is not None and match(v) is not None
        value = self.value(operand, cond.value)
        op = cond.op
        if value is None:
            if op == "=":
                return lambda row: get(row) is None
            if op == "!=":
                return lambda row: get(row) is not None
            return lambda row: False
        if isinstance(value, _Range):
            return _range_predicate(get, op, value)
        if norm is not None:
            inner = get

            def get(row: Row) -> Any:
                return norm(inner(row))

        if op == "=":
            return lambda row: get(row) == value
        if op == "!=":
            return lambda row: get(row) != value
        fn = _OPS[op]
        return lambda row: (v := get(row)) is not None and fn(v, value)

    def in_list(self, cond: ast.InList) -> Predicate:
        operand = self.operand(cond.lhs)
        values = [self.value(operand, lit) for lit in cond.values]
        if any(isinstance(v, _Range) for v in values):
            raise self.ctx.error(
                "MALFORMED_QUERY", operand.pos, "date literals are not supported in IN lists"
            )
        return _membership(operand, set(values), cond.negate)

    def in_subquery(self, cond: ast.InSubquery) -> Predicate:
        operand = self.operand(cond.lhs)
        return _membership(operand, self.semijoin(cond, operand), cond.negate)

    def includes(self, cond: ast.Includes) -> Predicate:
        operand = self.operand(cond.lhs)
        if operand.type != "multipicklist":
            raise self.ctx.error(
                "INVALID_FIELD",
                operand.pos,
                f"invalid operator on field '{operand.name}': "
                f"{'EXCLUDES' if cond.negate else 'INCLUDES'}",
            )
        wanted: list[frozenset[str]] = []
        for lit in cond.values:
            if lit.kind != "string":
                raise self._type_error(operand)
            wanted.append(frozenset(p.strip().lower() for p in lit.value.split(";")))
        get = operand.getter

        def has(row: Row) -> bool:
            v = get(row)
            if not v:
                return False
            present = {p.strip().lower() for p in v.split(";")}
            return any(w <= present for w in wanted)

        if cond.negate:
            return lambda row: not has(row)
        return has


@dataclass(frozen=True)
class _Range:
    lo: str
    hi: str


def _range_predicate(get: Getter, op: str, rng: _Range) -> Predicate:
    lo, hi = rng.lo, rng.hi
    if op == "=":
        return lambda row: (v := get(row)) is not None and lo <= v < hi
    if op == "!=":
        return lambda row: (v := get(row)) is None or not lo <= v < hi
    if op == "<":
        return lambda row: (v := get(row)) is not None and v < lo
    if op == "<=":
        return lambda row: (v := get(row)) is not None and v < hi
    if op == ">":
        return lambda row: (v := get(row)) is not None and v >= hi
    return lambda row: (v := get(row)) is not None and v >= lo


def _membership(operand: Operand, values: set[Any], negate: bool) -> Predicate:
    norm = normaliser(operand.type) or (lambda v: v)
    get = operand.getter
    if negate:
        return lambda row: norm(get(row)) not in values
    return lambda row: norm(get(row)) in values


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 2:
        a, b = preds
        return lambda row: a(row) and b(row)
    return lambda row: all(p(row) for p in preds)


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 2:
        a, b = preds
        return lambda row: a(row) or b(row)
    return lambda row: any(p(row) for p in preds)


def compile_condition(
    ctx: Context,
    cond: ast.Condition,
    operand: Callable[[ast.FieldRef | ast.Aggregate], Operand],
    semijoin: Callable[[ast.InSubquery, Operand], set[Any]],
) -> Predicate:
    """Compile ``cond``; ``operand`` resolves left-hand sides, ``semijoin`` runs subselects."""
    return _Compiler(ctx, operand, semijoin).compile(cond)
