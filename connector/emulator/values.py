"""Coercion of JSON input to the emulator's internal value forms, per field type.

Errors are raised as Salesforce reports them (JSON_PARSER_ERROR, STRING_TOO_LONG,
INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, MALFORMED_ID).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from connector.emulator.errors import ApiError
from connector.emulator.ids import is_valid_id, normalize
from connector.emulator.schema import FieldDef

__all__ = ["coerce", "format_datetime", "utc_now_string"]

_TEXT = {"string", "textarea", "picklist", "multipicklist", "email", "url", "phone", "combobox"}
_NUMBER = {"double", "currency", "percent"}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# What an org accepts in an email field: one @, no spaces, a dot in the domain.
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def format_datetime(value: datetime) -> str:
    """The internal (and REST output) datetime form: ``2026-11-22T10:16:09.000+0000``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def utc_now_string() -> str:
    """The wall clock in the internal datetime form."""
    return format_datetime(datetime.now(UTC))


def _parser_error(f: FieldDef, kind: str, value: Any) -> ApiError:
    shown = "VALUE_STRING" if isinstance(value, str) else "VALUE_" + type(value).__name__.upper()
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {shown} value {value} or request may be "
        f"missing a required field",
        fields=[f.name],
    )


def _parse_datetime(text: str) -> datetime:
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    elif len(t) >= 5 and t[-5] in "+-" and t[-4:].isdigit():
        t = t[:-2] + ":" + t[-2:]
    value = datetime.fromisoformat(t)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def coerce(f: FieldDef, value: Any) -> Any:
    """``value`` from a JSON body in the internal form for field ``f`` (None passes through)."""
    if value is None:
        return None
    t = f.type
    if t in _TEXT:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _parser_error(f, "string", value)
        text = value if isinstance(value, str) else str(value)
        if f.length and len(text) > f.length:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise ApiError(
                400,
                "STRING_TOO_LONG",
                f"{f.label or f.name}: data value too large: {shown} (max length={f.length})",
                fields=[f.name],
            )
        if t == "email" and text and not _EMAIL_RE.match(text):
            raise ApiError(
                400,
                "INVALID_EMAIL_ADDRESS",
                f"{f.label or f.name}: invalid email address: {text}",
                fields=[f.name],
            )
        if t == "picklist" and f.restricted_picklist:
            allowed = {p.value for p in f.picklist_values if p.active}
            if text not in allowed:
                raise ApiError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label or f.name}: bad value for restricted picklist field: {text}",
                    fields=[f.name],
                )
        return text
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _parser_error(f, "boolean", value)
    if t in _NUMBER:
        if isinstance(value, bool):
            raise _parser_error(f, "double", value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _parser_error(f, "double", value) from None
        # JSON has no NaN or Infinity, and neither does a Salesforce number field.
        if not math.isfinite(number):
            raise _parser_error(f, "double", value)
        return number
    if t == "int":
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number) or number != int(number):
                raise ValueError
            return int(number)
        except (TypeError, ValueError, OverflowError):
            raise _parser_error(f, "int", value) from None
    if t == "date":
        if isinstance(value, str):
            text = value[:10]
            if _DATE_RE.match(text):
                try:
                    date.fromisoformat(text)
                    return text
                except ValueError:
                    pass
        raise _parser_error(f, "date", value)
    if t == "datetime":
        if isinstance(value, str):
            try:
                return format_datetime(_parse_datetime(value))
            except ValueError:
                pass
        raise _parser_error(f, "datetime", value)
    if t in ("reference", "id"):
        if not isinstance(value, str) or not value:
            raise ApiError(
                400,
                "MALFORMED_ID",
                f"{f.label or f.name}: id value of incorrect type: {value}",
                fields=[f.name],
            )
        if not is_valid_id(value):
            raise ApiError(
                400,
                "MALFORMED_ID",
                f"{f.label or f.name}: id value of incorrect type: {value}",
                fields=[f.name],
            )
        return normalize(value)
    return value
