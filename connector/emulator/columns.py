"""``query?q=...&columns=true``: a query's column metadata instead of its rows.

The shape real orgs answer (the Salesforce CLI's ``sf data query`` reads it to lay out its
table): ``{"columnMetadata": [...], "entityName", "groupBy", "idSelected", "keyPrefix"}``,
each column ``{aggregate, apexType, booleanType, columnName, custom, displayName,
foreignKeyName, insertable, joinColumns, numberType, textType, updatable}``; a relationship
path (``Owner.Name``) is a column named after the relationship whose ``joinColumns`` hold the
rest of the path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.emulator.schema import FieldDef
from connector.emulator.soql import ast, parse
from connector.emulator.soql.resolve import Context
from connector.emulator.soql.source import DataSource

__all__ = ["column_metadata"]

_APEX = {
    "id": "Id", "reference": "Id", "boolean": "Boolean", "int": "Integer",
    "double": "Decimal", "currency": "Decimal", "percent": "Decimal",
    "date": "Date", "datetime": "Datetime",
}
_NUMBER = frozenset(("int", "double", "currency", "percent"))
_TEXT = frozenset(("id", "reference", "string", "picklist", "multipicklist", "textarea",
                   "url", "email", "phone", "combobox"))


def _column(name: str, fd: FieldDef | None, *, aggregate: bool = False,
            joins: list[dict[str, Any]] | None = None, apex: str | None = None) -> dict[str, Any]:
    kind = fd.type if fd is not None else ""
    return {
        "aggregate": aggregate,
        "apexType": apex if apex is not None else (_APEX.get(kind, "String") if fd else None),
        "booleanType": kind == "boolean",
        "columnName": name,
        "custom": bool(fd and fd.custom),
        "displayName": name,
        "foreignKeyName": None,
        "insertable": bool(fd and fd.createable and not aggregate),
        "joinColumns": joins or [],
        "numberType": kind in _NUMBER or apex in ("Integer", "Decimal"),
        "textType": kind in _TEXT and not aggregate,
        "updatable": bool(fd and fd.updateable and not aggregate),
    }


def column_metadata(soql: str, source: DataSource, version: str, now: datetime) -> dict[str, Any]:
    """The ``columns=true`` body of ``soql`` (its names checked as a query checks them)."""
    query = parse(soql)
    ctx = Context(source, query.text, now, version, False)
    obj = ctx.obj(query.sobject, query.sobject_pos)
    columns: list[dict[str, Any]] = []
    id_selected = False
    expr = 0
    for item in query.select:
        if isinstance(item, ast.FieldRef):
            path = ctx.resolve(obj, item, query.alias)
            if not path.refs:
                id_selected = id_selected or path.field.name == "Id"
                columns.append(_column(item.alias or path.field.name, path.field))
                continue
            # Owner.Name: a column "Owner" joining "Name" (nested deeper for longer paths).
            inner = _column(path.field.name, path.field)
            for ref in reversed(path.refs[1:]):
                inner = _column(ref.relationship_name or ref.name, None, joins=[inner])
            first = path.refs[0]
            columns.append(_column(first.relationship_name or first.name, None, joins=[inner]))
        elif isinstance(item, ast.Aggregate):
            fd = ctx.resolve(obj, item.field, query.alias).field if item.field else None
            name = item.alias or f"expr{expr}"
            expr += item.alias is None
            counting = item.func in ("COUNT", "COUNT_DISTINCT")
            apex = "Integer" if counting else (_APEX.get(fd.type, "String") if fd else None)
            columns.append(_column(name, fd, aggregate=True, apex=apex))
        elif isinstance(item, ast.SubQuery):
            # A child subquery: one column named after the child relationship.
            columns.append(_column(item.query.sobject, None))
    return {
        "columnMetadata": columns,
        "entityName": obj.name,
        "groupBy": bool(query.group_by),
        "idSelected": id_selected,
        "keyPrefix": obj.key_prefix,
    }
