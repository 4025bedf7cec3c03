"""CEL expressions: compiled once, their field references found, their result type probed.

The ``cel`` package (common-expression-language) compiles and runs expressions but does no type
checking, so two checks happen here at load time: every ``new.x`` / ``old.x`` / ``partner.x``
reference is read from the source (string literals removed) and checked against the known
fields, and the expression is run once on typed sample values to learn what type it returns
(a condition must return a bool, an amount a number).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import cel

__all__ = [
    "VARIABLES",
    "Expression",
    "ExpressionError",
    "cel_type_name",
    "compile_expression",
    "field_refs",
    "first_sentence",
    "sample_value",
    "to_cel",
]

VARIABLES = ("new", "old", "partner", "conflict", "now")
_STRINGS = re.compile(
    r"""[rRbB]*(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""", re.S
)
_REF = re.compile(r"(?<![\w.])(new|old|partner)\s*\.\s*([A-Za-z_]\w*)")
_MACRO_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


class ExpressionError(ValueError):
    """A CEL expression that does not compile, or refers to something unknown."""


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression and what it refers to."""

    source: str
    program: Any = field(repr=False, compare=False)
    refs: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)
    variables: frozenset[str] = frozenset()

    def run(self, context: Any) -> Any:
        """Evaluate on a ``cel.Context`` (or dict); CEL errors propagate as Python errors."""
        return self.program.execute(context)


def field_refs(source: str) -> dict[str, frozenset[str]]:
    """``{"new": {"status", ...}, "partner": {...}}``: fields read, outside string literals."""
    code = _STRINGS.sub('""', source)
    found: dict[str, set[str]] = {}
    for var, name in _REF.findall(code):
        found.setdefault(var, set()).add(name)
    return {k: frozenset(v) for k, v in found.items()}


def compile_expression(source: str, *, allowed: tuple[str, ...] = VARIABLES) -> Expression:
    """Compile ``source``; ``ExpressionError`` says what is wrong in one line."""
    text = source.strip()
    if not text:
        raise ExpressionError("the expression is empty")
    try:
        program = cel.compile(text)
    except (ValueError, RuntimeError, TypeError) as err:
        raise ExpressionError(_syntax_message(str(err))) from None
    code = _STRINGS.sub('""', text)
    bound = set(_MACRO_VAR.findall(code))
    variables = frozenset(program.variables()) - bound
    unknown = sorted(v for v in variables if v not in allowed)
    if unknown:
        raise ExpressionError(
            f"unknown variable '{unknown[0]}' (allowed: {', '.join(allowed)})"
        )
    return Expression(text, program, field_refs(text), variables)


def _syntax_message(raw: str) -> str:
    m = _POSITION.search(raw)
    if not m:
        return f"invalid CEL: {raw.splitlines()[0]}"
    detail = m.group(3).strip()
    return f"invalid CEL at {m.group(1)}:{m.group(2)} of the expression: {detail}"


def first_sentence(err: BaseException) -> str:
    """The first sentence of a CEL error (its advice paragraphs are too long for one line)."""
    lines = str(err).strip().splitlines()
    text = lines[0] if lines else type(err).__name__
    head, sep, _ = text.partition(". ")
    return head if sep else text


def to_cel(value: Any) -> Any:
    """A Python value CEL can hold: dates become midnight-UTC timestamps, Decimals floats."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {k: to_cel(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_cel(v) for v in value]
    return value


_SAMPLES: dict[str, Any] = {
    "str": "sample",
    "bool": True,
    "float": 1.0,
    "int": 1,
    "lookup": 1,
    "date": datetime(2026, 1, 1, tzinfo=UTC),
    "datetime": datetime(2026, 1, 1, tzinfo=UTC),
    "list": ["sample"],
}


def sample_value(local_type: str) -> Any:
    """A typed stand-in for a field of ``local_type`` in the load-time probe."""
    return _SAMPLES.get(local_type, "sample")


def cel_type_name(value: Any) -> str:
    """CEL's name for the type of a result (for messages)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return "timestamp"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__
