"""Pure conversion of records between Salesforce rows and local values, plus diff and hash.

``to_local`` turns a raw sObject row into typed local values (lookups stay Salesforce Ids; the
pipeline resolves them); ``to_crm`` turns local changes into a field payload for write-back.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime
from typing import Any

import orjson

from connector.errors import SkippableError
from connector.mapping.spec import EntityMapping, FieldMapping

__all__ = [
    "MappingError",
    "as_local",
    "canonical",
    "diff",
    "fingerprint",
    "same_value",
    "to_crm",
    "to_local",
]

_SORTED = orjson.OPT_SORT_KEYS


class MappingError(SkippableError):
    """A value that cannot be converted: the record goes to the dead letter queue."""

    def __init__(self, entity: str, field: str, value: Any, message: str) -> None:
        super().__init__(message, detail=f"entity={entity} field={field} value={value!r}")
        self.entity = entity
        self.field = field
        self.value = value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _error(
    entity: EntityMapping, f: FieldMapping, value: Any, reason: str, way: str
) -> MappingError:
    return MappingError(
        entity.name,
        f.local,
        value,
        f"{entity.name}.{f.local} ({entity.sobject}.{f.crm}): cannot convert {_shown(value)} "
        f"{way} {f.local_type}: {reason}",
    )


def to_local(entity: EntityMapping, row: dict[str, Any]) -> dict[str, Any]:
    """Local values (by local name) of a raw sObject row's ``in`` and ``both`` fields.

    A field missing from the row counts as null. Raises ``MappingError`` naming the field.
    """
    out: dict[str, Any] = {}
    for local, crm, values, convert, null_safe, f in entity.inbound_plan:
        raw = row.get(crm)
        value = raw
        if values is not None and isinstance(value, str):
            value = values.get(value, value)
        if value is None and null_safe:
            out[local] = None
            continue
        try:
            out[local] = convert(value)
        except (ValueError, TypeError, OverflowError) as err:
            raise _error(entity, f, raw, str(err), "to") from None
    return out


def to_crm(entity: EntityMapping, changes: dict[str, Any]) -> dict[str, Any]:
    """The Salesforce payload for local ``changes``: ``out``/``both`` fields only, by CRM name.

    Names that are not outbound fields of ``entity`` are left out. Lookups are given (and
    returned) as Salesforce Ids.
    """
    payload: dict[str, Any] = {}
    for local, value in changes.items():
        f = entity.fields.get(local)
        if f is None or not f.outbound:
            continue
        try:
            crm = f.pipeline.to_crm(value)
        except (ValueError, TypeError, OverflowError) as err:
            raise _error(entity, f, value, str(err), "from") from None
        if f.values is not None and crm is not None:
            inverse = {v: k for k, v in f.values.items()}
            crm = inverse.get(crm, crm)
        payload[f.crm] = crm
    return payload


def canonical(value: Any) -> Any:
    """The comparable JSON form: 1.0 -> 1, dates as ISO text, null entries dropped."""
    if type(value) is dict:
        # The hot path (a record's flat values): exact type checks, no recursion for scalars.
        out: dict[str, Any] = {}
        for k, v in value.items():
            t = type(v)
            if v is None:
                continue
            if t is str or t is bool or t is int:
                out[k if type(k) is str else str(k)] = v
            elif t is float:
                out[k if type(k) is str else str(k)] = int(v) if v.is_integer() else v
            elif t is date or t is datetime:
                out[k if type(k) is str else str(k)] = v.isoformat()
            else:
                out[str(k)] = canonical(v)
        return out
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return str(value)


def as_local(f: FieldMapping, value: Any) -> Any:
    """One Salesforce value of ``f`` as the poller would store it (picklist map, transforms),
    in canonical form; a value the field cannot convert is returned as it is."""
    if f.values is not None and isinstance(value, str):
        value = f.values.get(value, value)
    try:
        local = f.pipeline.to_local(value)
    except (ValueError, TypeError, OverflowError):
        return value
    return canonical(local)


def same_value(a: Any, b: Any) -> bool:
    """One value equality for echo detection and the outbox: equal as Salesforce would store
    them (1 == 1.0, dates as ISO text, None == missing); a bool never equals a number."""
    ca, cb = canonical(a), canonical(b)
    return bool(ca == cb) and isinstance(ca, bool) == isinstance(cb, bool)


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Local fields whose value differs (None and missing are equal; so are 1 and 1.0)."""
    before = canonical(old or {})
    after = canonical(new)
    names = [*after, *(k for k in before if k not in after)]
    changed = []
    for k in names:
        b = before.get(k)
        a = after.get(k)
        # Booleans never equal numbers here, although True == 1 in Python.
        if b != a or (type(b) is bool) != (type(a) is bool):
            changed.append(k)
    return changed


def fingerprint(values: dict[str, Any]) -> str:
    """A stable hash of mapped values: sha256 of sorted-key canonical JSON, 32 hex chars.

    orjson writes the same compact, sorted, UTF-8 text as ``json.dumps(..., sort_keys=True,
    separators=(",", ":"), ensure_ascii=False)`` for every value a record holds, except floats
    in exponent form (1e+16 vs 1e16): such a row's stored hash differs once and reconcile
    re-snapshots it without logging a change.
    """
    canon = canonical(values)
    try:
        text = orjson.dumps(canon, option=_SORTED)
    except TypeError:  # an integer beyond 64 bits: only the json module writes it
        text = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(text).hexdigest()[:32]
