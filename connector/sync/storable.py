"""What a store cannot hold (pure): found before a write, so the row is dead-lettered by field.

PostgreSQL refuses a NUL character in text: there, text is stored in an escaped, reversible
form instead (``escape_nul``: U+E000, a private-use character, doubles itself, and a NUL
becomes U+E000 followed by ``0``; text with neither is stored as it is), so the record is
stored, logged and decided like any other; ``unescape_nul`` gives the original back (the
export does). Neither store keeps NaN or infinity (SQLite turns NaN into NULL, JSON has no
spelling for it); integers beyond the column's range overflow: those rows are dead-lettered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from connector.store.nultext import NUL_ESCAPE, escape_nul, unescape_nul

__all__ = [
    "INT_LIMITS",
    "NUL_ESCAPE",
    "escape_nul",
    "storable_text",
    "store_problem",
    "unescape_nul",
]

# The widest integer each dialect's INTEGER column holds (PostgreSQL: 32 bits; SQLite: 64).
INT_LIMITS = {"postgresql": 2**31 - 1, "sqlite": 2**63 - 1}


def store_problem(values: Mapping[str, Any], dialect: str) -> tuple[str, str] | None:
    """The first (field, reason) the ``dialect`` store cannot hold, or None."""
    nul_matters = dialect == "postgresql"
    int_limit = INT_LIMITS.get(dialect, 2**63 - 1)
    for name, value in values.items():
        kind = type(value)
        if kind is str:
            if nul_matters and "\x00" in value:
                return name, "text contains a NUL character, which PostgreSQL cannot store"
        elif kind is float:
            if not math.isfinite(value):
                return name, f"{value} is not a finite number"
        elif kind is int and not -int_limit - 1 <= value <= int_limit:
            return name, "integer out of range for the store"
    return None


def storable_text(values: Mapping[str, Any], dialect: str) -> dict[str, Any]:
    """``values`` with text escaped as the ``dialect`` store needs (PostgreSQL: no NUL)."""
    if dialect != "postgresql":
        return values if isinstance(values, dict) else dict(values)
    return {k: escape_nul(v) if type(v) is str else v for k, v in values.items()}
