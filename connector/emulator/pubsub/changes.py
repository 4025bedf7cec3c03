"""Change events from committed transactions, and the field bitmaps of their headers.

One transaction (one API request's outermost ``Org.atomic()``) gives one ``transactionKey``;
its row changes become events numbered by ``sequenceNumber``. Updates and deletes of several
records that changed the same fields to the same values merge into one event listing every
record id, as Salesforce merges them.

Bitmaps (``changedFields``, ``nulledFields``, ``diffFields``) name fields by their position in
the event's Avro schema: bit i of the first string (hex, ``0x`` prefixed) is top-level field i
(the header is field 0); a compound field's components follow as ``"{i}-0x..."`` with bit j
for its component j.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from connector.emulator.pubsub.avro import SKIPPED, EventSchema

__all__ = ["PendingEvent", "bitmap", "bitmap_fields", "transaction_events"]

Change = tuple[str, str, dict[str, Any], dict[str, Any] | None, str]
KINDS = {"created": "CREATE", "updated": "UPDATE", "deleted": "DELETE"}


def _hex(value: int) -> str:
    digits = f"{value:X}"
    return "0x" + ("0" * (len(digits) % 2)) + digits


def bitmap(positions: Iterable[tuple[int, int | None]]) -> list[str]:
    """The bitmap strings for field positions (see the module doc)."""
    top = 0
    nested: dict[int, int] = {}
    for i, j in positions:
        if j is None:
            top |= 1 << i
        else:
            nested[i] = nested.get(i, 0) | (1 << j)
    out = [_hex(top)] if top else []
    out += [f"{i}-{_hex(bits)}" for i, bits in sorted(nested.items())]
    return out


def bitmap_fields(bitmaps: Iterable[str], schema: dict[str, Any]) -> list[str]:
    """The field names a bitmap stands for (``Name.FirstName`` for a compound's part), given
    the event's Avro schema (a dict): the reading a subscriber does."""
    top = schema["fields"]
    names: list[str] = []
    for text in bitmaps:
        parent, _, bits = text.rpartition("-")
        value = int(bits, 16)
        if not parent:
            names += [top[i]["name"] for i in range(value.bit_length()) if value >> i & 1]
            continue
        slot = top[int(parent)]
        inner = next(t for t in slot["type"] if isinstance(t, dict))
        names += [
            f"{slot['name']}.{inner['fields'][j]['name']}"
            for j in range(value.bit_length())
            if value >> j & 1
        ]
    return names


@dataclass
class PendingEvent:
    """One change event before encoding: its header and its field values."""

    entity: str
    header: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)


def _diff(schema: EventSchema, new: dict[str, Any], old: dict[str, Any]) -> list[str]:
    changed = [
        name
        for name in new
        if name not in SKIPPED and new[name] != old.get(name) and _carried(schema, name)
    ]
    if "LastModifiedDate" in new and "LastModifiedDate" not in changed:
        changed.append("LastModifiedDate")  # every update stamps it, even to the same value
    return changed


def _carried(schema: EventSchema, name: str) -> bool:
    try:
        schema.position(name)
    except KeyError:
        return False
    return True


def transaction_events(
    changes: list[Change],
    schema_of: Callable[[str], EventSchema],
    *,
    origin: str,
    commit_ms: int,
    commit_number: int,
    transaction_key: str,
    gap: bool = False,
    overflow_after: int | None = None,
) -> list[PendingEvent]:
    """The change events of one committed transaction, in order.

    ``gap``: send GAP_* events (header only: Salesforce could not build the event data).
    ``overflow_after``: after this many changes, one GAP_OVERFLOW event per remaining object
    stands for all the rest, as when a transaction changes more records than can be sent.
    """
    events: list[PendingEvent] = []
    merged: dict[tuple[Any, ...], PendingEvent] = {}
    overflowed: set[str] = set()
    user = changes[0][4] if changes else ""

    def header(entity: str, change_type: str, ids: list[str]) -> dict[str, Any]:
        return {
            "entityName": entity,
            "recordIds": ids,
            "changeType": change_type,
            "changeOrigin": origin,
            "transactionKey": transaction_key,
            "sequenceNumber": len(events) + 1,
            "commitTimestamp": commit_ms,
            "commitNumber": commit_number,
            "commitUser": user,
            "nulledFields": [],
            "diffFields": [],
            "changedFields": [],
        }

    for n, (kind, sobject, new, old, _user) in enumerate(changes):
        rid = str(new["Id"])
        if overflow_after is not None and n >= overflow_after:
            if sobject not in overflowed:
                overflowed.add(sobject)
                events.append(PendingEvent(sobject, header(sobject, "GAP_OVERFLOW", [])))
            continue
        change_type = KINDS[kind]
        if gap:
            events.append(PendingEvent(sobject, header(sobject, "GAP_" + change_type, [rid])))
            continue
        schema = schema_of(sobject)
        if change_type == "CREATE":
            values = {k: v for k, v in new.items() if v is not None and _carried(schema, k)}
            events.append(PendingEvent(sobject, header(sobject, "CREATE", [rid]), values))
            continue
        if change_type == "DELETE":
            key: tuple[Any, ...] = (sobject, "DELETE")
            if key in merged:
                merged[key].header["recordIds"].append(rid)
                continue
            merged[key] = PendingEvent(sobject, header(sobject, "DELETE", [rid]))
            events.append(merged[key])
            continue
        assert old is not None
        changed = _diff(schema, new, old)
        values = {name: new[name] for name in changed}
        # The records of one transaction share its commit in an org; here their stamps may
        # differ by a millisecond, so the stamp does not keep identical changes apart.
        same = sorted((k, repr(v)) for k, v in values.items() if k != "LastModifiedDate")
        key = (sobject, "UPDATE", tuple(same))
        if key in merged:
            merged[key].header["recordIds"].append(rid)
            continue
        event = PendingEvent(sobject, header(sobject, "UPDATE", [rid]), values)
        event.header["changedFields"] = bitmap(schema.position(f) for f in changed)
        event.header["nulledFields"] = bitmap(
            schema.position(f) for f in changed if new[f] is None
        )
        merged[key] = event
        events.append(event)
    return events
