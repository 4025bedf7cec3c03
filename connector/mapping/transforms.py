"""Value transforms between Salesforce's JSON wire form and typed local values, by name.

Each transform is a pair of pure functions: ``to_local`` (CRM -> PRM) and ``to_crm`` (PRM ->
CRM), plus the local type it produces. For values in the local domain (what ``to_local``
returns), ``to_local(to_crm(v)) == v`` holds, so ``both`` fields round-trip. ``None`` (a null
field) passes through every transform except ``default``. A bad value raises ``ValueError``;
the mapper turns it into a ``MappingError`` naming the entity and field.

mapping.yaml names them under ``transform:``, as a name, a ``{name: round, digits: 2}`` mapping
or a list of either (a pipeline, applied in order on the way in and reversed on the way out).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

from connector.sftime import parse_sf_datetime as _parse

__all__ = [
    "LOCAL_TYPES",
    "REGISTRY",
    "LocalType",
    "Pipeline",
    "Transform",
    "TransformDef",
    "build_pipeline",
    "default_for_type",
    "format_sf_datetime",
    "parse_sf_datetime",
]

LocalType = Literal["str", "bool", "float", "int", "date", "datetime", "lookup"]
LOCAL_TYPES: tuple[LocalType, ...] = ("str", "bool", "float", "int", "date", "datetime", "lookup")

Fn = Callable[[Any], Any]


@dataclass(frozen=True)
class Transform:
    """One configured transform step (a registry entry with its arguments bound)."""

    name: str
    to_local: Fn
    to_crm: Fn
    local_type: LocalType | None  # None: keeps whatever type it is given
    converts: bool = True  # False: the field's type converter still runs (e.g. ``default``)
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransformDef:
    """A registry entry: how to build a ``Transform`` from the arguments in mapping.yaml."""

    name: str
    doc: str
    build: Callable[..., Transform]
    params: Mapping[str, tuple[type, ...]] = field(default_factory=dict)  # name -> types
    required: tuple[str, ...] = ()


def _nullable(fn: Fn) -> Fn:
    def wrapped(value: Any) -> Any:
        return None if value is None else fn(value)

    wrapped.__wrapped__ = fn  # type: ignore[attr-defined]  # lets hot loops test None inline
    return wrapped


# -- scalar converters (raise ValueError on a value they cannot convert) ------------------


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected text, got {type(value).__name__}")
    return str(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str):
        try:
            out = float(value.strip())
        except ValueError:
            raise ValueError("expected a number") from None
    else:
        raise ValueError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(out):
        raise ValueError("expected a finite number")
    return out


# Compiled once: these run once per value of a page (re's cache lookup is slower than a match).
_WHOLE = re.compile(r"\s*[-+]?\d+\s*")
_DATETIME_START = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return int(value)
    number = _to_float(value)
    if not number.is_integer():
        raise ValueError("expected a whole number")
    return int(number)


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false")


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise ValueError("expected a date, got a date and time")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("not a calendar date") from None
    raise ValueError("expected a date as YYYY-MM-DD")


def parse_sf_datetime(value: Any) -> datetime:
    """A Salesforce or ISO 8601 date-time (Z, +0000, +00:00; naive = UTC) as aware UTC, to ms."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not _DATETIME_START.match(text):
            raise ValueError("expected a date-time such as 2026-11-22T10:16:09.000+0000")
        try:
            parsed = _parse(text)
        except ValueError:
            raise ValueError("not a valid date-time") from None
    else:
        raise ValueError(f"expected a date-time, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    # Salesforce keeps milliseconds: truncating here makes every local value round-trip.
    return parsed.astimezone(UTC).replace(microsecond=parsed.microsecond // 1000 * 1000)


def format_sf_datetime(value: datetime) -> str:
    """An aware datetime in the form Salesforce accepts: 2026-11-22T10:16:09.000Z."""
    if not isinstance(value, datetime):
        raise ValueError(f"expected a date-time, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    u = value.astimezone(UTC)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond // 1000:03d}Z"
    )


def _date_to_crm(value: Any) -> str:
    return _to_date(value).isoformat()


_SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")


def _sf_id(value: Any) -> str:
    if isinstance(value, str) and _SF_ID.fullmatch(value):
        return value
    raise ValueError("expected a Salesforce Id (15 or 18 letters and digits)")


# -- the registry ----------------------------------------------------------------------


def _simple(
    name: str, to_local: Fn, to_crm: Fn, local_type: LocalType | None, doc: str
) -> TransformDef:
    def build() -> Transform:
        return Transform(name, _nullable(to_local), _nullable(to_crm), local_type)

    return TransformDef(name, doc, build)


def _build_round(digits: int = 0) -> Transform:
    def to_local(value: Any) -> float:
        return round(_to_float(value), digits)

    return Transform(
        "round", _nullable(to_local), _nullable(_to_float), "float", args={"digits": digits}
    )


def _build_default(value: Any) -> Transform:
    def to_local(got: Any) -> Any:
        return value if got is None else got

    return Transform("default", to_local, lambda v: v, None, converts=False, args={"value": value})


REGISTRY: dict[str, TransformDef] = {
    d.name: d
    for d in (
        _simple("identity", lambda v: v, lambda v: v, None, "the value as Salesforce sends it"),
        _simple("string", _to_str, _to_str, "str", "text (numbers become their text)"),
        _simple("trim", lambda v: _to_str(v).strip(), _to_str, "str", "text without outer spaces"),
        _simple("lower", lambda v: _to_str(v).lower(), _to_str, "str", "lower-case text"),
        _simple("upper", lambda v: _to_str(v).upper(), _to_str, "str", "upper-case text"),
        _simple("number", _to_float, _to_float, "float", "a float (double, currency, percent)"),
        _simple("integer", _to_int, _to_int, "int", "a whole number"),
        _simple("boolean", _to_bool, _to_bool, "bool", "true/false, 'true'/'false', 1/0"),
        _simple("date", _to_date, _date_to_crm, "date", "YYYY-MM-DD <-> datetime.date"),
        _simple(
            "datetime", parse_sf_datetime, format_sf_datetime, "datetime",
            "Salesforce/ISO date-time <-> aware UTC datetime",
        ),
        _simple("id", _sf_id, _sf_id, "str", "a Salesforce record Id"),
        TransformDef(
            "round", "a float rounded to `digits` places", _build_round, {"digits": (int,)}
        ),
        TransformDef(
            "default", "`value` in place of null (inbound)", _build_default,
            {"value": (str, int, float, bool)}, ("value",),
        ),
    )
}

_TYPE_DEFAULTS: dict[LocalType, str] = {
    "str": "string",
    "bool": "boolean",
    "float": "number",
    "int": "integer",
    "date": "date",
    "datetime": "datetime",
    "lookup": "id",
}


def default_for_type(local_type: LocalType) -> Transform:
    """The converter a field of ``local_type`` gets when mapping.yaml names no transform."""
    return REGISTRY[_TYPE_DEFAULTS[local_type]].build()


@dataclass(frozen=True)
class Pipeline:
    """Transforms applied in order on the way in, in reverse on the way out."""

    steps: tuple[Transform, ...]

    @property
    def local_type(self) -> LocalType | None:
        """The type of the last step that fixes one (None: the pipeline keeps types)."""
        for step in reversed(self.steps):
            if step.local_type is not None:
                return step.local_type
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    @property
    def local_converter(self) -> tuple[Fn, bool]:
        """``to_local`` as one callable, and whether None maps to None without calling it:
        a single null-safe step's own function (no loop, no wrapper), else the pipeline."""
        if len(self.steps) == 1:
            step = self.steps[0].to_local
            inner = getattr(step, "__wrapped__", None)
            return (inner, True) if inner is not None else (step, False)
        return self.to_local, False

    def to_local(self, value: Any) -> Any:
        for step in self.steps:
            value = step.to_local(value)
        return value

    def to_crm(self, value: Any) -> Any:
        for step in reversed(self.steps):
            value = step.to_crm(value)
        return value


def build_pipeline(steps: Sequence[Transform], local_type: LocalType) -> Pipeline:
    """Steps plus the type's converter when no step converts (``default`` alone, say)."""
    if any(s.converts for s in steps):
        return Pipeline(tuple(steps))
    return Pipeline((*steps, default_for_type(local_type)))
