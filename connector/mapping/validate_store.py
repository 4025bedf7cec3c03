"""Check a mapping against the store: every mapped field must fit where the store keeps it.

A built-in entity (docs/model.md) has a table whose typed columns hold its standard fields; a
mapped field with a column must have a type the column can hold (``name`` is text: mapping it
as a date is an error, not 80 dead letters at run time). A field without a column is kept in
the row's ``extra`` JSON, and an entity without a table in the generic ``custom_record``
table, so any local type fits those. Pure: the store's columns come in as data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from connector.errors import ConfigProblem
from connector.mapping.spec import EntityMapping, FieldMapping, MappingSpec

__all__ = ["HOLDS", "validate_against_store"]

# Store column type -> local types it can hold without loss.
HOLDS: dict[str, tuple[str, ...]] = {
    "str": ("str",),
    "float": ("float", "int"),
    "int": ("int",),
    "bool": ("bool",),
    "date": ("date",),
    "datetime": ("datetime",),
    "lookup": ("lookup",),
}

Columns = Callable[[str], Mapping[str, str] | None]
Targets = Callable[[str], Mapping[str, str]]


def validate_against_store(
    spec: MappingSpec, columns: Columns, targets: Targets
) -> list[ConfigProblem]:
    """Problems of ``spec`` against the store's tables.

    ``columns(entity)`` gives a built-in entity's business columns and their local types
    (None for an entity the store keeps in its generic table); ``targets(entity)`` its lookup
    columns and the entities they point at.
    """
    problems: list[ConfigProblem] = []
    for entity in spec.entities.values():
        cols = columns(entity.name)
        if cols is None:
            continue  # an admin-defined entity: custom_record holds any local type
        links = targets(entity.name)
        for f in entity.fields.values():
            if f.local in cols:
                message = _misfit(entity, f, cols[f.local], links.get(f.local))
                if message is not None:
                    at = "lookup" if f.lookup is not None else "type"
                    problems.append(spec.problem(message, entity.name, f.local, at))
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def _misfit(
    entity: EntityMapping, f: FieldMapping, column: str, target: str | None
) -> str | None:
    where = f"the store's column {entity.name}.{f.local}"
    if column == "lookup":
        if f.lookup is None:
            return (f"{where} links to a {target} record, so '{f.local}' needs `lookup: "
                    f"{target}` (or another local name, to keep {f.crm} aside in extra)")
        if f.lookup != target:
            return (f"{where} links to {target} records, not {f.lookup}; use lookup: {target} "
                    f"or another local name for {f.crm}")
        return None
    if f.local_type not in HOLDS.get(column, ()):
        return (f"{where} holds {column} values; local type {f.local_type} does not fit it "
                f"(use type {column}, or another local name to keep {f.crm} aside in extra)")
    return None
