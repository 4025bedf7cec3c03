"""Shared pieces of the emulator's Bulk APIs: job ids, CSV dialects, value conversion.

Bulk CSV has its own value rules, different from REST JSON: ``#N/A`` sets a field to null,
an empty cell is "no value" (ignored on update), booleans are ``true``/``false`` and query
results print datetimes as ``2026-11-22T10:16:09.000Z``.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from connector.emulator.ids import make_id
from connector.emulator.schema import FieldDef, ObjectDef

__all__ = [
    "DELIMITERS",
    "LINE_ENDINGS",
    "NULL_TOKEN",
    "IdFactory",
    "csv_text",
    "from_csv_value",
    "read_csv",
    "row_error",
    "to_csv_value",
]

NULL_TOKEN = "#N/A"
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}

_DATETIME_OUT = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\+0000$")
_NUMBER_TYPES = {"double", "currency", "percent"}


class IdFactory:
    """Thread-safe sequential ids for one key prefix (jobs 750, batches 751, ...)."""

    def __init__(self, prefix: str, start: int = 1) -> None:
        self.prefix = prefix
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return make_id(self.prefix, next(self._counter))


def read_csv(text: str, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV upload; a leading BOM and blank trailing lines are ignored."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    rows = [r for r in reader if r and any(c != "" for c in r)]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def csv_text(
    header: list[str],
    rows: Iterator[list[str]] | list[list[str]],
    *,
    delimiter: str = ",",
    line_ending: str = "\n",
) -> str:
    """CSV with every value quoted, the way Salesforce writes Bulk result files."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=line_ending, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def row_error(code: str, message: str, fields: list[str] | None = None) -> str:
    """``sf__Error`` text: ``CODE:message:Field1,Field2 --``.

    e.g. ``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``.
    """
    return f"{code}:{message}:{','.join(fields or [])} --"


def to_csv_value(value: Any, field: FieldDef | None = None) -> str:
    """A REST-shaped value as a Bulk query result cell (null -> empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if field is not None and field.type == "int" and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        if field is None or field.type == "datetime":
            m = _DATETIME_OUT.match(value)
            if m:
                return m.group(1) + "Z"
        return value
    return str(value)


class CsvValueError(ValueError):
    """A cell that cannot be converted to its field's type."""


def _parse_datetime(text: str) -> str:
    t = text.strip()
    if re.fullmatch(r"\d{4}-\d\d-\d\d", t):
        t += "T00:00:00Z"
    t = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", t)
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    parsed = datetime.fromisoformat(t)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}+0000"


def from_csv_value(text: str, field: FieldDef) -> Any:
    """A Bulk CSV cell -> the emulator's value for ``field``; ``#N/A`` -> None.

    Raises CsvValueError when the text is not a value of the field's type.
    """
    if text == NULL_TOKEN:
        return None
    try:
        if field.type == "boolean":
            low = text.strip().lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise CsvValueError(text)
        if field.type == "int":
            number = float(text)
            if not number.is_integer():
                raise CsvValueError(text)
            return int(number)
        if field.type in _NUMBER_TYPES:
            return float(text)
        if field.type == "date":
            t = text.strip().removesuffix("Z")
            return date.fromisoformat(t[:10]).isoformat()
        if field.type == "datetime":
            return _parse_datetime(text)
    except ValueError as exc:
        raise CsvValueError(text) from exc
    return text


def resolve_path(
    schema: dict[str, ObjectDef], sobject: str, path: str
) -> tuple[str, FieldDef | None]:
    """``account.name`` on Opportunity -> (``Account.Name``, Account.Name's FieldDef)."""
    obj = schema.get(sobject)
    parts = path.split(".")
    names: list[str] = []
    field: FieldDef | None = None
    for i, part in enumerate(parts):
        if obj is None:
            names.extend(parts[i:])
            return ".".join(names), None
        if i < len(parts) - 1:
            rel = obj.relationship(part)
            if rel is None or not rel.relationship_name:
                names.extend(parts[i:])
                return ".".join(names), None
            names.append(rel.relationship_name)
            target = rel.reference_to[0] if len(rel.reference_to) == 1 else None
            obj = schema.get(target) if target else None
        else:
            field = obj.field(part)
            names.append(field.name if field else part)
    return ".".join(names), field


def lookup(record: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a REST-shaped record, keys matched case-insensitively."""
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        if part in node:
            node = node[part]
            continue
        low = part.lower()
        node = next((v for k, v in node.items() if k.lower() == low), None)
    return node
