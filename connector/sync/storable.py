"""What a store cannot hold (pure): found before a write, so the row is dead-lettered by field.

PostgreSQL refuses a NUL character in text; neither store keeps NaN or infinity (SQLite turns
NaN into NULL, JSON has no spelling for it); integers beyond the column's range overflow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["INT_LIMITS", "store_problem"]

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
