"""Name resolution: objects and field paths checked against describe, turned into getters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.emulator.schema import FieldDef, ObjectDef
from connector.emulator.soql import ast
from connector.emulator.soql.errors import SoqlError, error_at
from connector.emulator.soql.source import DataSource

__all__ = ["MAX_DEPTH", "Context", "Getter", "Path", "Row"]

Row = dict[str, Any]
Getter = Callable[[Row], Any]
MAX_DEPTH = 5

_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, "
    "be sure to append the '__c' after the entity name. Please reference your WSDL or the "
    "describe call for the appropriate names."
)
_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom "
    "field, be sure to append the '__c' after the custom field name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)
_NO_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


@dataclass(frozen=True)
class Path:
    """A resolved field path: reference fields walked, then the final field."""

    refs: tuple[FieldDef, ...]  # reference fields on each object along the way
    targets: tuple[str, ...]  # the object each reference leads to (first reference_to)
    field: FieldDef
    getter: Getter

    @property
    def key(self) -> tuple[str, ...]:
        """Case-normalised identity of the path (for GROUP BY / duplicate checks)."""
        return (*(r.name.lower() for r in self.refs), self.field.name.lower())


@dataclass
class Context:
    """Everything one ``execute`` call shares: the source, the clock and lookup caches."""

    source: DataSource
    text: str
    now: datetime
    api_version: str
    include_deleted: bool
    _parents: dict[str, Row | None] = field(default_factory=dict)
    _types: dict[str, ObjectDef] = field(default_factory=dict)

    def error(self, code: str, pos: int, message: str) -> SoqlError:
        return error_at(code, self.text, pos, message)

    def obj(self, name: str, pos: int) -> ObjectDef:
        """The ObjectDef named ``name`` or INVALID_TYPE."""
        key = name.lower()
        found = self._types.get(key)
        if found is None:
            found = self.source.describe(name)
            if found is None or not found.queryable:
                raise self.error("INVALID_TYPE", pos, _NO_TYPE.format(name=name))
            self._types[key] = found
        return found

    def parent(self, record_id: str) -> Row | None:
        """A referenced record, fetched once per execute."""
        try:
            return self._parents[record_id]
        except KeyError:
            row = self.source.get(record_id)
            self._parents[record_id] = row
            return row

    def url(self, sobject: str, record_id: Any) -> str:
        return f"/services/data/v{self.api_version}/sobjects/{sobject}/{record_id}"

    def resolve(self, obj: ObjectDef, ref: ast.FieldRef, alias: str | None) -> Path:
        """Check ``ref`` against ``obj`` (stripping the object's alias or name prefix)."""
        parts = list(ref.path)
        if len(parts) > 1 and (
            (alias is not None and parts[0].lower() == alias.lower())
            or (parts[0].lower() == obj.name.lower() and obj.relationship(parts[0]) is None)
        ):
            parts = parts[1:]
        if len(parts) - 1 > MAX_DEPTH:
            raise self.error(
                "MALFORMED_QUERY",
                ref.pos,
                "SOQL statements cannot query more than 5 levels of relationships",
            )
        refs: list[FieldDef] = []
        targets: list[str] = []
        current = obj
        for index, part in enumerate(parts[:-1]):
            rel = current.relationship(part)
            if rel is None or not rel.reference_to:
                raise self.error("INVALID_FIELD", ref.pos, _NO_RELATIONSHIP.format(name=part))
            refs.append(rel)
            current = self._target(rel, parts[index + 1 :], ref.pos)
            targets.append(current.name)
        final = current.field(parts[-1])
        if final is None:
            raise self.error(
                "INVALID_FIELD",
                ref.pos,
                _NO_COLUMN.format(name=parts[-1], entity=current.name),
            )
        return Path(tuple(refs), tuple(targets), final, self._getter(refs, final))

    def _target(self, rel: FieldDef, rest: list[str], pos: int) -> ObjectDef:
        """The object behind ``rel``; for polymorphic references the first that has the field."""
        candidates = [self.source.describe(t) for t in rel.reference_to]
        defs = [c for c in candidates if c is not None]
        if not defs:
            raise self.error("INVALID_FIELD", pos, _NO_RELATIONSHIP.format(name=rel.name))
        if len(defs) > 1 and len(rest) == 1:
            for d in defs:
                if d.field(rest[0]) is not None:
                    return d
        return defs[0]

    def _getter(self, refs: list[FieldDef], final: FieldDef) -> Getter:
        name = final.name
        if not refs:
            return lambda row: row.get(name)
        ref_names = [r.name for r in refs]
        parent = self.parent

        def walk(row: Row) -> Any:
            current: Row | None = row
            for ref_name in ref_names:
                rid = current.get(ref_name) if current is not None else None
                if rid is None:
                    return None
                current = parent(rid)
            return current.get(name) if current is not None else None

        return walk
