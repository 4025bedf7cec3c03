"""A starter mapping.yaml for one sObject, written from its describe (`mapping scaffold`)."""

from __future__ import annotations

import json
from typing import Any

from connector.mapping.names import entity_name_for, local_name_for

__all__ = ["SYSTEM_FIELDS", "scaffold"]

# Selected by the poller on every query; never mapped as local fields (docs/model.md).
SYSTEM_FIELDS = frozenset({
    "Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
    "SystemModstamp", "OwnerId", "LastActivityDate", "LastViewedDate", "LastReferencedDate",
    "MasterRecordId",
})
_SKIPPED_TYPES = frozenset({"address", "location", "base64", "anytype", "complexvalue"})
_TYPES = {
    "boolean": "bool", "double": "float", "currency": "float", "percent": "float",
    "int": "int", "long": "int", "date": "date", "datetime": "datetime",
}
# Plain scalars YAML 1.1 would read as booleans or null: quote them.
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


def _scalar(text: str) -> str:
    return json.dumps(text) if text.lower() in _YAML_WORDS else text


def _describe_type(f: dict[str, Any]) -> str:
    sf_type = str(f.get("type", "string"))
    if sf_type in ("double", "currency", "percent") and f.get("precision"):
        return f"{sf_type}({f['precision']},{f.get('scale', 0)})"
    if sf_type in ("string", "textarea", "url", "email", "phone") and f.get("length"):
        return f"{sf_type}({f['length']})"
    if sf_type == "reference":
        refs = ", ".join(f.get("referenceTo") or []) or "?"
        return f"reference to {refs} (kept as the Id string; add `lookup: ENTITY` once mapped)"
    if sf_type in ("picklist", "multipicklist"):
        values = [str(v["value"]) for v in f.get("picklistValues", []) if v.get("active", True)]
        shown = ", ".join(values[:6]) + (", ..." if len(values) > 6 else "")
        return f"{sf_type}: {shown}" if values else sf_type
    return sf_type


def _line(local: str, f: dict[str, Any]) -> tuple[str, str]:
    crm = _scalar(str(f["name"]))
    local_type = _TYPES.get(str(f.get("type", "")).lower())
    body = f"{{crm: {crm}, type: {local_type}}}" if local_type else crm
    access = "updateable: may be direction both" if f.get("updateable") else "read-only"
    if f.get("calculated"):
        access = "calculated"
    return f"      {_scalar(local)}: {body}", f"# {_describe_type(f)}; {access}"


def scaffold(sobject_describe: dict[str, Any]) -> str:
    """Mapping YAML for one sObject: every non-system field, direction in, typed, commented."""
    sobject = str(sobject_describe["name"])
    entity = entity_name_for(sobject) or "entity"
    rows: list[tuple[str, str]] = []
    used: set[str] = set()
    for f in sobject_describe.get("fields", []):
        name = str(f["name"])
        if name in SYSTEM_FIELDS or str(f.get("type", "")).lower() in _SKIPPED_TYPES:
            continue
        base = local_name_for(name)
        local, n = base, 2
        while local in used:
            local, n = f"{base}_{n}", n + 1
        used.add(local)
        rows.append(_line(local, f))
    width = max((len(code) for code, _ in rows), default=0) + 2
    lines = [
        f"# Starter mapping for {sobject}, generated from the org's describe.",
        "# Every field starts as direction in (read from Salesforce). Set direction: both on the",
        "# fields the connector should write back, delete the ones you do not need, and merge",
        "# this entity into your mapping.yaml.",
        "version: 1",
        "entities:",
        f"  {entity}:",
        f"    sobject: {_scalar(sobject)}",
        "    key: Id",
        "    fields:" if rows else "    fields: {}",
        *(f"{code.ljust(width)}{comment}" for code, comment in rows),
    ]
    return "\n".join(lines) + "\n"
