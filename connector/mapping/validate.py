"""Check a mapping against the org's describe before anything touches the org.

Every problem is a ``ConfigProblem`` at the mapping.yaml line of the entity or field at fault,
with a message saying what the org has instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connector.errors import ConfigProblem
from connector.mapping.access import Access
from connector.mapping.names import did_you_mean
from connector.mapping.spec import EntityMapping, FieldMapping, MappingSpec
from connector.mapping.transforms import LocalType

__all__ = ["COMPOUND", "FITS", "validate_against_describe"]

Describe = Callable[[str], dict[str, Any] | None]

# Salesforce field type -> local types that can hold it.
FITS: dict[str, tuple[LocalType, ...]] = {
    "id": ("str",),
    "string": ("str",),
    "textarea": ("str",),
    "email": ("str",),
    "url": ("str",),
    "phone": ("str",),
    "picklist": ("str",),
    "multipicklist": ("str",),
    "combobox": ("str",),
    "encryptedstring": ("str",),
    "time": ("str",),
    "boolean": ("bool",),
    "double": ("float", "int"),
    "currency": ("float", "int"),
    "percent": ("float", "int"),
    "int": ("int", "float"),
    "long": ("int", "float"),
    "date": ("date",),
    "datetime": ("datetime",),
    "reference": ("lookup", "str"),
    "base64": ("str",),
    "anytype": ("str",),
}

# Compound fields arrive as JSON objects (street, city...; latitude, longitude): no local type
# holds one, so they are mapped through their component fields.
COMPOUND = frozenset({"address", "location"})


def validate_against_describe(
    spec: MappingSpec, describe: Describe, *, sobject_names: Sequence[str] | None = None,
    access: Access | None = None,
) -> list[ConfigProblem]:
    """Problems of ``spec`` against the org: objects, fields, types, access, picklists, keys.

    ``describe(sobject)`` returns the sObject describe, or None when the object does not exist;
    ``sobject_names`` (from describe_global) lets a missing object get a "did you mean".
    With ``access`` (who the connector acts as), an object or field the describe lacks, and a
    field the mapping writes that the user cannot edit, is named with its fix (a permission
    set to assign, or a grant to add to it): in a real org that is what a missing permission
    looks like.
    """
    problems: list[ConfigProblem] = []
    for entity in spec.entities.values():
        desc = describe(entity.sobject)
        if desc is None:
            hint = did_you_mean(entity.sobject, sobject_names or ())
            message = (access.cannot_read_object(entity.sobject) if access and not hint
                       else f"sobject '{entity.sobject}' does not exist in the org{hint}")
            problems.append(spec.problem(message, entity.name, None, "sobject"))
            continue
        problems.extend(_entity_problems(spec, entity, desc, describe, access))
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))


def _by_name(desc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {str(f["name"]).lower(): f for f in desc.get("fields", [])}


def _entity_problems(
    spec: MappingSpec, entity: EntityMapping, desc: dict[str, Any], describe: Describe,
    access: Access | None = None,
) -> list[ConfigProblem]:
    fields = _by_name(desc)
    names = [str(f["name"]) for f in desc.get("fields", [])]
    problems: list[ConfigProblem] = []
    creates = entity.key != "Id"
    if access is not None and creates and not desc.get("createable", True):
        problems.append(spec.problem(access.cannot(
            "create", entity.sobject, f"which {entity.name} creates (key {entity.key})"),
            entity.name, None, "sobject"))
    elif access is not None and not desc.get("updateable", True) and any(
            f.outbound for f in entity.fields.values()):
        problems.append(spec.problem(access.cannot(
            "edit", entity.sobject, f"which {entity.name} writes back"),
            entity.name, None, "sobject"))
    for f in entity.fields.values():
        got = fields.get(f.crm.lower())
        if got is None:
            hint = did_you_mean(f.crm, names)
            message = (access.cannot_read_field(entity.sobject, f.crm) if access and not hint
                       else f"{entity.sobject} has no field '{f.crm}'{hint}")
            problems.append(spec.problem(message, entity.name, f.local, "crm"))
            continue
        problems.extend(_field_problems(spec, entity, f, got, creates, access))
    key = fields.get(entity.key.lower())
    if creates and key is not None and not (key.get("externalId") or key.get("idLookup")):
        problems.append(spec.problem(
            f"key {entity.sobject}.{key['name']} is not an external id field in the org; "
            "mark it External ID (and Unique) so upserts cannot duplicate records",
            entity.name, None, "key"))
    return problems


def _field_problems(
    spec: MappingSpec, entity: EntityMapping, f: FieldMapping, got: dict[str, Any],
    creates: bool, access: Access | None = None,
) -> list[ConfigProblem]:
    name = f"{entity.sobject}.{got['name']}"
    sf_type = str(got.get("type", "")).lower()
    out: list[ConfigProblem] = []

    def add(message: str, *at: str) -> None:
        out.append(spec.problem(message, entity.name, f.local, *at))

    fits = FITS.get(sf_type)
    if sf_type in COMPOUND:
        add(f"{name} is a compound {sf_type} field; map its component fields instead (e.g. "
            "BillingStreet, BillingCity for BillingAddress)", "crm")
    elif fits is not None and f.local_type not in fits:
        add(f"{name} is a {sf_type} field; local type {f.local_type} does not fit it "
            f"(use {' or '.join(fits)})", "type" if f.lookup is None else "lookup")
    # Field-level security applies to permissionable fields that are not formulas; any other
    # read-only field (IsWon, an auto number) stays read-only whatever is granted.
    secured = access is not None and got.get("permissionable") and not got.get("calculated")
    if f.outbound and not got.get("updateable", False) and access is not None and secured:
        add(access.cannot_edit_field(entity.sobject, str(got["name"]), f.direction), "direction")
    elif f.outbound and not got.get("updateable", False):
        add(f"{name} is not updateable in the org, so direction {f.direction} cannot write it; "
            "use direction: in or make the field editable for the integration user", "direction")
    elif f.outbound and creates and not got.get("createable", False):
        add(f"{name} is not createable in the org, but {entity.name} creates records "
            f"(key {entity.key}); use direction: in", "direction")
    if f.values is not None:
        out.extend(_picklist_problems(spec, entity, f, got, name))
    if f.lookup is not None and sf_type == "reference":
        target = spec.entities[f.lookup].sobject
        refs = [str(r) for r in got.get("referenceTo", [])]
        if target.lower() not in {r.lower() for r in refs}:
            add(f"{name} refers to {', '.join(refs) or 'nothing'}, not {target} (the sobject of "
                f"entity '{f.lookup}')", "lookup")
    return out


def _picklist_problems(
    spec: MappingSpec, entity: EntityMapping, f: FieldMapping, got: dict[str, Any], name: str
) -> list[ConfigProblem]:
    allowed = [str(v["value"]) for v in got.get("picklistValues", []) if v.get("active", True)]
    if str(got.get("type", "")).lower() not in ("picklist", "multipicklist", "combobox"):
        return [spec.problem(f"{name} is not a picklist, so it takes no values map",
                             entity.name, f.local, "values")]
    return [
        spec.problem(
            f"'{value}' is not an active picklist value of {name} (values: "
            f"{', '.join(allowed)}){did_you_mean(value, allowed)}",
            entity.name, f.local, "values", value, key=True,
        )
        for value in (f.values or {})
        if value not in allowed
    ]
