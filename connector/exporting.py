"""Export rows as plain values: JSON lines, or CSV cells that a spreadsheet will not execute.

Partner-entered text reaches the store from Salesforce; a cell such as ``=HYPERLINK(...)`` or
``=cmd|' /C calc'!A0`` would run as a formula when the CSV is opened in a spreadsheet. As OWASP
recommends, a text cell starting with ``= + - @``, TAB or CR gets a leading ``'`` so it is
shown as text. Control characters (NUL and the rest of C0 but TAB, LF and CR; DEL; C1) and the
Unicode bidirectional controls (the embeddings, overrides and isolates U+202A-U+202E and
U+2066-U+2069, the marks U+200E, U+200F and U+061C), which can hide or reorder what a cell
shows ("Trojan Source"), are replaced with U+FFFD. ``--raw`` turns both off for tools that read
the CSV as data. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

__all__ = ["FORMULA_TRIGGERS", "UNSAFE_CHARACTERS", "csv_cell", "csv_row", "neutralise", "plain"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
#: replaced with U+FFFD in a CSV cell: control characters and bidirectional controls
UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def neutralise(text: str) -> str:
    """``text`` made inert for spreadsheets: control and bidi characters replaced with U+FFFD,
    and a leading ``'`` if it could start a formula."""
    text = UNSAFE_CHARACTERS.sub("\ufffd", text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def plain(value: Any) -> Any:
    """A value as JSON and CSV carry it: dates and datetimes as ISO text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def csv_cell(value: Any, *, raw: bool = False) -> Any:
    """One CSV cell: nested values as JSON text; text neutralised unless ``raw``."""
    value = plain(value)
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str)
    if isinstance(value, str) and not raw:
        return neutralise(value)
    return value


def csv_row(row: Mapping[str, Any], *, raw: bool = False) -> dict[str, Any]:
    """A row's cells for ``csv.DictWriter``."""
    return {k: csv_cell(v, raw=raw) for k, v in row.items()}
