"""CEL, once: bounds, compile, reference checks, a cost estimate, budgeted evaluation.

Trigger rules (``when``, ``scope``, CEL action parameters) and segment predicates compile
here, with one wording for every error and a position inside the expression that the callers
turn into ``file:line:col``.

The ``cel`` package (common-expression-language) compiles and runs expressions but checks no
types, estimates no cost, and its parser panics (a ``BaseException``) past column ~65,535 or
nesting ~66,000. So, before anything is compiled, ``check_bounds`` reads the text once:
its length, bracket and unary nesting, string and list literal sizes, and how deeply
comprehensions (``all``, ``exists``, ``exists_one``, ``map``, ``filter``) nest; and it
estimates the cost as the expression's length times the size of every comprehension's range
(a list literal's length, else ``unknown_range``). Over a limit: an error at the place that
broke it. At run time ``Expression.run`` re-estimates the cost with the sizes of the values
actually bound (the longest list, map or string among them stands for every unknown range)
and refuses to start an evaluation over ``run_budget``: that rule errors for that record and
the others go on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import cel

from connector.errors import ConfigProblem
from connector.yamlconf import Located

__all__ = [
    "DEFAULT_LIMITS",
    "MACROS",
    "STANDARD_FUNCTIONS",
    "CelError",
    "CelLimits",
    "Expression",
    "OverBudget",
    "cel_type_name",
    "certifications_in",
    "check_bounds",
    "compile_expression",
    "field_refs",
    "first_sentence",
    "located_problem",
    "position_in_scalar",
    "sample_value",
    "to_cel",
]

MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# CEL's standard functions and macros an expression may call besides the environment's.
STANDARD_FUNCTIONS = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double",
    "string", "bool", "bytes", "type", "timestamp", "duration", "has", "exists", "all",
    "exists_one", "map", "filter", "lowerAscii", "upperAscii", "trim", "replace", "split",
    "join", "indexOf", "lastIndexOf", "substring", "getFullYear", "getMonth",
    "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes",
    "getSeconds", "min", "max", "dyn",
})
_STRINGS = re.compile(
    r"""[rRbB]*(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""", re.S
)
_REF = re.compile(r"(?<![\w.])(new|old|partner)\s*\.\s*([A-Za-z_]\w*)(\s*\()?")
_MACRO_VAR = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_POSITION = re.compile(r"<input>:(\d+):(\d+):\s*(.*)")


@dataclass(frozen=True)
class CelLimits:
    """What one expression may be and cost."""

    max_length: int = 4096  # characters
    max_depth: int = 32  # nested brackets and unary operators
    max_string: int = 1024  # characters of one string literal
    max_items: int = 256  # elements of one list or map literal
    max_comprehension_depth: int = 2  # comprehensions inside comprehensions
    unknown_range: int = 32  # a comprehension's range the text does not fix (load time)
    max_cost: int = 10_000_000  # the static estimate
    run_budget: int = 10_000_000  # the estimate with the bound values' sizes, per evaluation


DEFAULT_LIMITS = CelLimits()


class CelError(ValueError):
    """An expression that breaks a bound, does not compile, or refers to something unknown.

    ``line``/``column`` (1-based, inside the expression) say where, when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 source: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.source = source  # the text ``line``/``column`` count in


class OverBudget(RuntimeError):
    """An evaluation refused before it started: its estimated cost is over the budget."""


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


@dataclass
class _Frame:
    opener: str
    offset: int
    literal: bool  # a list/map literal (not an index, a call or a group)
    macro: bool = False
    items: int = 0
    any_item: bool = False
    range_size: int | None = None  # for a macro frame: its range's size (None: unknown)


@dataclass(frozen=True)
class _Shape:
    """What ``check_bounds`` learnt: comprehension ranges (None: unknown size)."""

    ranges: tuple[int | None, ...] = ()


def check_bounds(source: str, limits: CelLimits = DEFAULT_LIMITS) -> _Shape:
    """Read ``source`` once and raise ``CelError`` at the first bound it breaks."""
    if len(source) > limits.max_length:
        line, col = _line_col(source, limits.max_length)
        raise CelError(f"the expression is {len(source):,} characters long (limit "
                       f"{limits.max_length:,}): split the rule", line, col)
    stack: list[_Frame] = []
    ranges: list[int | None] = []
    first_macro: int | None = None  # where the first comprehension starts (cost errors)
    unary = 0  # unary operators in a row (each one a level of the parser's recursion)
    prev = ""  # the last significant character (to tell a literal '[' from an index)
    closed: dict[int, _Frame] = {}  # offset of a closing bracket -> its frame
    i, n = 0, len(source)

    def fail(message: str, at: int) -> CelError:
        return CelError(message, *_line_col(source, at))

    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        m = _STRINGS.match(source, i) if ch in "'\"rRbB" else None
        if m is not None and m.group(0)[-1:] in "'\"":
            body = len(m.group(0))
            if body - 2 > limits.max_string:
                raise fail(f"a string literal of {body - 2:,} characters (limit "
                           f"{limits.max_string:,})", i)
            _item(stack)
            i, prev, unary = m.end(), "'", 0
            continue
        if ch in "([{":
            literal = ch in "[{" and not (_after_operand(prev)
                                          and not _after_keyword(source, i))
            macro = False
            range_size: int | None = None
            if ch == "(":
                name = re.search(r"\.\s*([A-Za-z_]\w*)\s*$", source[max(0, i - 64):i])
                if name and name.group(1) in MACROS:
                    macro = True
                    dot = source.rfind(".", 0, i)
                    range_size = _receiver_size(source, dot, closed)
            _item(stack)
            stack.append(_Frame(ch, i, literal, macro, range_size=range_size))
            depth = len(stack) + unary
            if depth > limits.max_depth:
                raise fail(f"nesting {depth} deep (limit {limits.max_depth})", i)
            if macro:
                nested = sum(1 for f in stack if f.macro)
                if nested > limits.max_comprehension_depth:
                    raise fail(f"{nested} comprehensions nested (limit "
                               f"{limits.max_comprehension_depth})", i)
                ranges.append(range_size)
                if first_macro is None:
                    first_macro = source.rfind(".", 0, i) + 1
            prev, unary = ch, 0
            i += 1
            continue
        if ch in ")]}":
            if stack:
                frame = stack.pop()
                if frame.any_item:
                    frame.items += 1
                if frame.literal and frame.items > limits.max_items:
                    raise fail(f"a literal of {frame.items:,} elements (limit "
                               f"{limits.max_items:,})", frame.offset)
                closed[i] = frame
            prev, unary = ch, 0
            i += 1
            continue
        if ch == ",":
            if stack:
                stack[-1].items += 1
                stack[-1].any_item = False
            prev, unary = ch, 0
            i += 1
            continue
        if ch in "!-" and not _after_operand(prev):
            unary += 1
            if len(stack) + unary > limits.max_depth:
                raise fail(f"nesting {len(stack) + unary} deep (limit {limits.max_depth})", i)
            i += 1
            continue
        _item(stack)
        prev = ch
        if not (ch.isalnum() or ch in "_."):
            unary = 0
        i += 1
    shape = _Shape(tuple(ranges))
    cost = estimate_cost(len(source), shape, limits.unknown_range)
    if cost > limits.max_cost:
        raise fail(f"estimated cost {cost:,} is over the limit {limits.max_cost:,} "
                   "(comprehensions over comprehensions, or over long lists)",
                   first_macro or 0)
    return shape


def _after_operand(prev: str) -> bool:
    """Whether the last significant character ends an operand (then '[' indexes, '-' is
    binary)."""
    return prev != "" and (prev.isalnum() or prev in "_)]'\"")


def _after_keyword(source: str, at: int) -> bool:
    """Whether the word before ``at`` is the operator ``in`` (``x in [1, 2]``)."""
    m = re.search(r"(?<![\w.])in\s*$", source[max(0, at - 16):at])
    return m is not None


def _item(stack: list[_Frame]) -> None:
    if stack:
        stack[-1].any_item = True


def _receiver_size(source: str, dot: int, frames: Mapping[int, _Frame]) -> int | None:
    """The size of the range a macro at ``dot`` iterates: a list literal's length, a chained
    map/filter's range, else None (unknown)."""
    j = dot - 1
    while j >= 0 and source[j].isspace():
        j -= 1
    frame = frames.get(j)
    if frame is None:
        return None
    if frame.opener == "[" and frame.literal:
        return frame.items
    if frame.opener == "(" and frame.macro:
        return frame.range_size
    return None


def estimate_cost(length: int, shape: _Shape, unknown: int) -> int:
    """``length`` times the size of every comprehension's range (``unknown`` when not
    fixed by the text): a bound on the work of one evaluation, chains and nests alike."""
    cost = max(length, 1)
    for r in shape.ranges:
        cost *= max(r if r is not None else unknown, 1)
    return cost


def _widest(value: Any) -> int:
    """The longest list, map or string in ``value`` (what an unknown range may be)."""
    if isinstance(value, (list, tuple, dict, str)):
        size = len(value)
        if isinstance(value, str):
            return size
        inner: Iterable[Any] = value.values() if isinstance(value, dict) else value
        for v in inner:
            if isinstance(v, (list, tuple, dict, str)):
                size = max(size, _widest(v))
        return size
    return 0


@dataclass(frozen=True)
class Expression:
    """A compiled CEL expression, what it reads, and its cost shape."""

    source: str
    program: Any = field(repr=False, compare=False)
    refs: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)
    variables: frozenset[str] = frozenset()
    shape: _Shape = field(default_factory=_Shape, compare=False)
    limits: CelLimits = field(default=DEFAULT_LIMITS, compare=False)
    # True when every comprehension range is fixed by the text (no run-time check needed)
    bounded: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounded", all(r is not None for r in self.shape.ranges))

    def cost_for(self, values: Iterable[Any]) -> int:
        """The estimated cost of one evaluation on ``values`` (the bound variables)."""
        if self.bounded:
            return estimate_cost(len(self.source), self.shape, 1)
        widest = max((_widest(v) for v in values), default=0)
        return estimate_cost(len(self.source), self.shape, max(widest, 1))

    def run(self, context: Any, values: Iterable[Any] | None = None) -> Any:
        """Evaluate on a ``cel.Context`` (or dict). With ``values`` (what the context holds),
        an evaluation over the run-time budget raises ``OverBudget`` before it starts."""
        if values is not None and not self.bounded:
            cost = self.cost_for(values)
            if cost > self.limits.run_budget:
                raise OverBudget(f"over its evaluation budget (estimated cost {cost:,}, budget "
                                 f"{self.limits.run_budget:,}): skipped for this record")
        return self.program.execute(context)


def field_refs(source: str) -> dict[str, frozenset[str]]:
    """``{"new": {"status", ...}, "partner": {...}}``: fields read, outside string literals.
    A receiver call (``partner.certifications_in('x')``) is not a field: it is keyed
    ``"<var>()"``."""
    code = _STRINGS.sub('""', source)
    found: dict[str, set[str]] = {}
    for var, name, call in _REF.findall(code):
        found.setdefault(f"{var}()" if call else var, set()).add(name)
    return {k: frozenset(v) for k, v in found.items()}


def compile_expression(
    source: str,
    *,
    variables: Iterable[str],
    functions: Iterable[str] = (),
    limits: CelLimits = DEFAULT_LIMITS,
) -> Expression:
    """Check ``source``'s bounds, compile it, and check its variables and functions.

    Every failure is a ``CelError`` in one wording, with its position in ``source``."""
    lead = len(source) - len(source.lstrip())
    text = source.strip()
    if not text:
        raise CelError("the expression is empty", 1, 1, source)
    try:
        shape = check_bounds(text, limits)
    except CelError as err:
        raise _shifted(err, source, lead) from None
    try:
        program = cel.compile(text)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:
        raise _shifted(_syntax_error(str(err)), source, lead) from None
    code = _STRINGS.sub('""', text)
    bound = set(_MACRO_VAR.findall(code))
    allowed = tuple(variables)
    unknown = sorted(v for v in frozenset(program.variables()) - bound if v not in allowed)
    if unknown:
        at = re.search(rf"(?<![\w.]){re.escape(unknown[0])}\b", code)
        raise _shifted(CelError(f"unknown variable '{unknown[0]}' (allowed: "
                                f"{', '.join(allowed)})",
                                *(_line_col(text, at.start()) if at else (1, 1))),
                       source, lead)
    known = STANDARD_FUNCTIONS | frozenset(functions)
    for fn in program.references().get("functions", []):
        if fn[0] in "_@!-" or fn in known:
            continue
        at = re.search(rf"\b{re.escape(fn)}\s*\(", code)
        raise _shifted(CelError(f"unknown function '{fn}' (known: "
                                f"{', '.join(sorted(set(functions))) or 'none'} and CEL's "
                                "standard functions)",
                                *(_line_col(text, at.start()) if at else (1, 1))),
                       source, lead)
    vars_used = frozenset(program.variables()) - bound
    return Expression(text, program, field_refs(text), vars_used, shape, limits)


def _shifted(err: CelError, source: str, lead: int) -> CelError:
    """``err`` with its position counted in ``source`` (before it was stripped)."""
    if err.line is None or err.column is None:
        return CelError(err.message, source=source)
    stripped = source[lead:]
    offset = _offset(stripped, err.line, err.column) + lead
    return CelError(err.message, *_line_col(source, offset), source=source)


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    line = max(1, min(line, len(lines)))
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(column - 1, 0)


def _syntax_error(raw: str) -> CelError:
    m = _POSITION.search(raw)
    if not m:
        first = raw.strip().splitlines()[0] if raw.strip() else "the parser gave up"
        return CelError(f"invalid CEL: {first[:200]}", 1, 1)
    return CelError(f"invalid CEL: {m.group(3).strip()[:200]}", int(m.group(1)),
                    int(m.group(2)))


def position_in_scalar(
    file_text: str | None, value_line: int, value_col: int, source: str, line: int,
    column: int,
) -> tuple[int, int]:
    """The file position of (``line``, ``column``) of ``source``, a YAML scalar whose value
    starts at (``value_line``, ``value_col``) in ``file_text``.

    YAML changes only whitespace between the file and the value (folding, indentation,
    quotes aside), so the k-th non-blank character of the value is the k-th non-blank
    character of the scalar in the file: plain, quoted, literal (``|``) and folded (``>``)
    scalars alike. Without the file text, the value's own position."""
    if file_text is None:
        return value_line, value_col
    lines = file_text.split("\n")
    if not 1 <= value_line <= len(lines):
        return value_line, value_col
    offset = min(_offset(source, line, column), len(source))
    wanted = sum(1 for ch in source[:offset] if not ch.isspace())
    first = lines[value_line - 1]
    head = first[value_col - 1:value_col]
    if head in (">", "|"):  # a block scalar: its content starts on the next line
        parent = len(first) - len(first.lstrip())
        rows = []
        for k in range(value_line, len(lines)):
            text = lines[k]
            if text.strip() and (len(text) - len(text.lstrip())) <= parent:
                break
            rows.append((k + 1, 1, text))
    else:
        start = value_col + (1 if head in ("'", '"') else 0)
        rows = [(value_line, start, first[start - 1:])]
        rows += [(k + 1, 1, lines[k]) for k in range(value_line, len(lines))]
    at_end = not source[offset:].strip()  # past the last character: just after it
    seen = 0
    last = (value_line, value_col)
    for file_line, col0, text in rows:
        for i, ch in enumerate(text):
            if ch.isspace():
                continue
            if seen == wanted:
                return file_line, col0 + i
            seen += 1
            last = (file_line, col0 + i + 1)  # just after this character
            if at_end and seen == wanted:
                return last
    return last


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
    "map": {},
}


def sample_value(local_type: str) -> Any:
    """A typed stand-in for a field of ``local_type`` in the load-time probe."""
    return _SAMPLES.get(local_type, "sample")


_TYPE_NAMES: tuple[tuple[type, str], ...] = (
    (bool, "bool"), (int, "int"), (float, "double"), (str, "string"), (type(None), "null"),
    (datetime, "timestamp"), (list, "list"), (dict, "map"),
)  # bool before int: a bool is an int in Python


def cel_type_name(value: Any) -> str:
    """CEL's name for the type of a result (for messages)."""
    return next((name for t, name in _TYPE_NAMES if isinstance(value, t)),
                type(value).__name__)


def located_problem(
    loc: Located, path: Sequence[str | int], what: str, err: CelError,
    text: Callable[[], str] | None,
) -> ConfigProblem:
    """``err`` as a config problem at its place in the file: the position inside the
    expression found in the YAML value at ``path`` (``text`` reads the file, only now)."""
    line, col = loc.where(path)
    if err.line is not None and err.column is not None and text is not None:
        try:
            file_text: str | None = text()
        except OSError:
            file_text = None
        line, col = position_in_scalar(file_text, line, col, err.source, err.line, err.column)
    return ConfigProblem(loc.file, line, col, f"{what}: {err.message}")


def certifications_in(partner: Mapping[str, Any], what: str) -> int:
    """``partner.certifications_in(x)``: certifications of the partner in track ``x``
    (completed certification steps, when programs.yaml has that track), else certifications
    whose name contains ``x`` (any case)."""
    by_track = partner.get("track_certifications") or {}
    if what in by_track:
        return int(by_track[what])
    needle = str(what).casefold()
    return sum(1 for n in partner.get("certification_names") or () if needle in n.casefold())


@dataclass(frozen=True)
class CelFunction:
    """A function rules and segments may call, and the partner facts it reads."""

    name: str
    fn: Callable[..., Any]
    reads: frozenset[str] = frozenset()


BASE_FUNCTIONS: Mapping[str, CelFunction] = {
    "certifications_in": CelFunction(
        "certifications_in", certifications_in,
        frozenset({"certification_names", "track_certifications"})),
}
__all__ += ["BASE_FUNCTIONS", "CelFunction", "estimate_cost"]
