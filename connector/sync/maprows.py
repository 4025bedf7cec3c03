"""Step 2 of the inbound page pipeline (pure): raw rows to typed local values, or rejections.

A value the mapping cannot convert, or one the store could not hold, rejects its row with the
field named; the other rows go on (invariant 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.mapping import EntityMapping, MappingError, to_local
from connector.sync.classify import Incoming
from connector.sync.storable import storable_text, store_problem

__all__ = ["Mapped", "Rejected", "map_rows"]


@dataclass(frozen=True, slots=True)
class Mapped:
    """A row and its local values (lookups still Salesforce Ids until the resolve step)."""

    incoming: Incoming
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that goes to the dead letter queue: why, and which local field (if known)."""

    incoming: Incoming
    code: str  # MAPPING_ERROR | STORE_REJECTED
    message: str
    field: str | None = None


def map_rows(
    entity: EntityMapping, upserts: Sequence[Incoming], *, dialect: str
) -> tuple[list[Mapped], list[Rejected]]:
    """Convert each row with ``to_local`` and check the ``dialect`` store can hold it."""
    mapped: list[Mapped] = []
    rejected: list[Rejected] = []
    for inc in upserts:
        try:
            values = storable_text(to_local(entity, inc.row), dialect)
        except MappingError as err:
            rejected.append(Rejected(inc, "MAPPING_ERROR", str(err), err.field))
            continue
        problem = store_problem(values, dialect)
        if problem is not None:
            name, reason = problem
            f = entity.fields.get(name)
            where = f"{entity.name}.{name} ({entity.sobject}.{f.crm})" if f else name
            rejected.append(Rejected(inc, "STORE_REJECTED", f"{where}: {reason}", name))
            continue
        mapped.append(Mapped(inc, values))
    return mapped, rejected
