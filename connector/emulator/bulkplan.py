"""How the CSV columns of a Bulk API 2.0 ingest job map to fields (or a parent's external id),
and query results as CSV rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.emulator.bulkcsv import CsvValueError, from_csv_value, lookup, to_csv_value
from connector.emulator.errors import ApiError
from connector.emulator.schema import FieldDef, ObjectDef

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = ["ColumnPlan", "csv_rows"]


class ColumnPlan:
    """How each CSV column of an ingest job maps to a field (or a parent's external id)."""

    def __init__(self, org: Org, obj: ObjectDef, header: list[str], operation: str) -> None:
        self.org = org
        self.obj = obj
        self.id_index: int | None = None
        self.ext_index: int | None = None
        self.columns: list[tuple[int, FieldDef, tuple[str, FieldDef] | None]] = []
        for i, name in enumerate(header):
            if "." in name:
                rel_name, _, ext_name = name.partition(".")
                rel = obj.relationship(rel_name)
                target = org.schema.get(rel.reference_to[0]) if rel and rel.reference_to else None
                ext = target.field(ext_name) if target else None
                if rel is None or target is None or ext is None:
                    raise ApiError(400, "InvalidBatch", f"Field name not found : {name}")
                self.columns.append((i, rel, (target.name, ext)))
                continue
            f = obj.field(name)
            if f is None:
                raise ApiError(400, "InvalidBatch", f"Field name not found : {name}")
            if f.name == "Id":
                self.id_index = i
                continue
            self.columns.append((i, f, None))
        if operation in ("delete", "hardDelete") and self.id_index is None:
            raise ApiError(400, "InvalidBatch", "Field name not found : Id")
        self.operation = operation

    def ext_column(self, ext_field: str) -> None:
        for i, f, parent in self.columns:
            if parent is None and f.name == ext_field:
                self.ext_index = i

    def values(self, row: list[str]) -> tuple[dict[str, Any], str | None, str | None]:
        """(field values to write, the row's Id, its external id value) for one row."""
        record_id = row[self.id_index] if self.id_index is not None else None
        ext_value = row[self.ext_index] if self.ext_index is not None else None
        values: dict[str, Any] = {}
        if self.operation in ("delete", "hardDelete"):
            return values, record_id or None, None
        for i, f, parent in self.columns:
            text = row[i]
            if text == "":
                continue  # an empty cell is "no value"; #N/A sets null
            if parent is not None:
                values[f.name] = None if text == "#N/A" else self._parent_id(f, *parent, text)
                continue
            try:
                values[f.name] = from_csv_value(text, f)
            except CsvValueError as exc:
                raise ApiError(
                    400,
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    f"{f.label or f.name}: value not of required type: {text}",
                    fields=[f.name],
                ) from exc
        return values, record_id or None, ext_value or None

    def _parent_id(self, ref: FieldDef, target: str, ext: FieldDef, value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        found = self.org.query(
            f"SELECT Id FROM {target} WHERE {ext.name} = '{escaped}'", False
        ).records
        if not found:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {ext.name} "
                f"in entity {target}",
                fields=[ref.name],
            )
        if len(found) > 1:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"More than 1 record found for External ID field: {ext.name}",
                fields=[ref.name],
            )
        return str(found[0]["Id"])


def csv_rows(
    records: list[dict[str, Any]], columns: list[str], fields: list[FieldDef | None]
) -> list[list[str]]:
    """Query result records as CSV cells in ``columns`` order."""
    return [
        [to_csv_value(lookup(rec, c), f) for c, f in zip(columns, fields, strict=True)]
        for rec in records
    ]
