"""Change event schemas, built from the org's describe, and their Avro encoding.

A change event for ``Account`` is an ``AccountChangeEvent`` record (namespace
``com.sforce.eventbus``): first the ``ChangeEventHeader``, then one optional field per field of
the object that Change Data Capture carries (every field but Id, IsDeleted, SystemModstamp and
formula fields). A person name is one compound field, ``Name``, holding Salutation, FirstName
and LastName, as in Salesforce's schemas. Date fields travel as days since the epoch (int),
datetime fields as milliseconds since the epoch (long).

The schema id is a fingerprint of the schema's JSON; GetSchema answers the JSON for it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import fastavro

from connector.emulator.schema import FieldDef, ObjectDef

__all__ = [
    "CHANGE_TYPES",
    "EventSchema",
    "build_schema",
    "decode",
    "entity_of_topic",
    "topic_of",
]

NAMESPACE = "com.sforce.eventbus"
CHANGE_TYPES = (
    "CREATE", "UPDATE", "DELETE", "UNDELETE",
    "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW",
)
SKIPPED = {"Id", "IsDeleted", "SystemModstamp"}
NAME_PARTS = ("Salutation", "FirstName", "LastName")

HEADER: dict[str, Any] = {
    "type": "record",
    "name": "ChangeEventHeader",
    "namespace": NAMESPACE,
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {
            "name": "changeType",
            "type": {"type": "enum", "name": "ChangeType", "namespace": NAMESPACE,
                     "symbols": list(CHANGE_TYPES)},
        },
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}


def topic_of(sobject: str) -> str:
    """The change event channel of an object: Account -> /data/AccountChangeEvent,
    Partner__c -> /data/Partner__ChangeEvent."""
    base = sobject[:-3] + "__" if sobject.endswith("__c") else sobject
    return f"/data/{base}ChangeEvent"


def entity_of_topic(topic: str, objects: dict[str, ObjectDef]) -> str | None:
    """The object whose channel ``topic`` is, or None."""
    for name in objects:
        if topic_of(name) == topic:
            return name
    return None


def _avro_type(f: FieldDef) -> Any:
    if f.type == "boolean":
        return "boolean"
    if f.type == "int":
        return "int"
    if f.type in ("double", "currency", "percent"):
        return "double"
    if f.type == "date":
        return "int"
    if f.type == "datetime":
        return "long"
    return "string"


def _optional(name: str, avro_type: Any, doc: str) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "doc": doc, "default": None}


@dataclass(frozen=True)
class Slot:
    """One top-level field of the event: a plain field, or the compound Name."""

    name: str
    parts: tuple[FieldDef, ...]  # the compound's components; empty for a plain field
    field: FieldDef | None = None


@dataclass
class EventSchema:
    """The change event schema of one object, with what encoding needs."""

    entity: str
    schema: dict[str, Any]
    schema_id: str
    json: str
    slots: list[Slot]  # top-level fields after the header, in schema order (position = i + 1)
    parsed: Any

    def position(self, name: str) -> tuple[int, int | None]:
        """The bitmap position of a record field: (top-level index, index inside the compound
        or None). The header is index 0."""
        for i, slot in enumerate(self.slots, start=1):
            if slot.field is not None and slot.field.name == name:
                return i, None
            for j, part in enumerate(slot.parts):
                if part.name == name:
                    return i, j
        raise KeyError(name)

    def encode(self, header: dict[str, Any], values: dict[str, Any]) -> bytes:
        """Avro binary of one event: ``values`` maps record field names to the emulator's
        internal values; fields not named are null."""
        record: dict[str, Any] = {"ChangeEventHeader": header}
        for slot in self.slots:
            if slot.field is not None:
                record[slot.name] = _to_avro(slot.field, values.get(slot.field.name))
            elif any(p.name in values for p in slot.parts):
                record[slot.name] = {p.name: _to_avro(p, values.get(p.name)) for p in slot.parts}
            else:
                record[slot.name] = None
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.parsed, record)
        return out.getvalue()


def _to_avro(f: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if f.type == "date":
        return (date.fromisoformat(str(value)) - date(1970, 1, 1)).days
    if f.type == "datetime":
        when = datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%f%z")
        return int(when.astimezone(UTC).timestamp() * 1000)
    if f.type == "int":
        return int(value)
    if f.type in ("double", "currency", "percent"):
        return float(value)
    if f.type == "boolean":
        return bool(value)
    return str(value)


def build_schema(obj: ObjectDef) -> EventSchema:
    """The ``<Object>ChangeEvent`` schema of ``obj``."""
    compound = "Name" in obj.fields and {"FirstName", "LastName"} <= set(obj.fields)
    slots: list[Slot] = []
    avro_fields: list[dict[str, Any]] = [{"name": "ChangeEventHeader", "type": HEADER, "doc": ""}]
    if compound:  # one Name field in place of its parts (even where Name is read-only)
        parts = tuple(obj.fields[p] for p in NAME_PARTS if p in obj.fields)
        slots.append(Slot("Name", parts))
        person = {
            "type": "record",
            "name": "Switchable_PersonName",
            "namespace": NAMESPACE,
            "fields": [_optional(p.name, _avro_type(p), f"Data:{p.type}") for p in parts],
        }
        avro_fields.append(_optional("Name", person, "Data:Switchable_PersonName"))
    for f in obj.fields.values():
        if f.name in SKIPPED or f.calculated or (compound and f.name in ("Name", *NAME_PARTS)):
            continue
        slots.append(Slot(f.name, (), f))
        avro_fields.append(_optional(f.name, _avro_type(f), f"Data:{f.type}"))
    base = obj.name[:-3] + "__" if obj.name.endswith("__c") else obj.name
    schema = {
        "type": "record",
        "name": f"{base}ChangeEvent",
        "namespace": NAMESPACE,
        "fields": avro_fields,
    }
    text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(text.encode()).digest()[:16]
    schema_id = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return EventSchema(
        entity=obj.name,
        schema=schema,
        schema_id=schema_id,
        json=text,
        slots=slots,
        parsed=fastavro.parse_schema(json.loads(text)),
    )


def decode(schema_json: str, payload: bytes) -> dict[str, Any]:
    """Read one event's payload with its schema (tests and clients)."""
    parsed = fastavro.parse_schema(json.loads(schema_json))
    out = fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)
    assert isinstance(out, dict)
    return out
