"""salesforce/'s permission set PRM_Connector_Integration grants exactly what the default
mapping needs: read on every mapped object and field, edit exactly on the ``out``/``both``
fields, create/edit/delete on the objects the connector creates (key other than Id)."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from connector.emulator.describe import describe_sobject
from connector.emulator.metadata import NS, REPO_ROOT
from connector.emulator.standard import build_schema
from connector.mapping.loader import load_mapping

MAPPING = Path(__file__).resolve().parents[2] / "connector" / "defaults" / "mapping.yaml"
PERMSET = (REPO_ROOT / "force-app" / "main" / "default" / "permissionsets"
           / "PRM_Connector_Integration.permissionset-meta.xml")


def _text(el: Element, tag: str) -> str:
    found = el.find(NS + tag)
    assert found is not None and found.text is not None, tag
    return found.text


def _flag(el: Element, tag: str) -> bool:
    return _text(el, tag) == "true"


def _granted() -> tuple[dict[str, tuple[bool, bool, bool, bool]], dict[str, tuple[bool, bool]],
                        set[str]]:
    root: Element = ElementTree.parse(PERMSET).getroot()
    assert root.tag == NS + "PermissionSet"
    objects = {
        _text(o, "object"): (_flag(o, "allowRead"), _flag(o, "allowCreate"),
                             _flag(o, "allowEdit"), _flag(o, "allowDelete"))
        for o in root.findall(NS + "objectPermissions")
    }
    fields = {_text(f, "field"): (_flag(f, "readable"), _flag(f, "editable"))
              for f in root.findall(NS + "fieldPermissions")}
    users = {_text(u, "name") for u in root.findall(NS + "userPermissions")
             if _flag(u, "enabled")}
    return objects, fields, users


def _expected() -> tuple[dict[str, tuple[bool, bool, bool, bool]], dict[str, tuple[bool, bool]]]:
    spec = load_mapping(MAPPING)
    schema = build_schema()
    objects: dict[str, tuple[bool, bool, bool, bool]] = {}
    fields: dict[str, tuple[bool, bool]] = {}
    for entity in spec.entities.values():
        creates = entity.key != "Id"
        writes = any(f.outbound for f in entity.fields.values())
        objects[entity.sobject] = (True, creates, creates or writes, creates)
        described = {f["name"]: f for f in describe_sobject(
            schema[entity.sobject], schema, "62.0")["fields"]}
        for f in entity.fields.values():
            if not described[f.crm]["permissionable"]:
                continue  # required and system fields: always visible, never in a permission set
            # Activity custom fields are granted on Activity (they belong to Task and Event).
            owner = "Activity" if entity.sobject == "Task" and f.crm.endswith("__c") else (
                entity.sobject)
            fields[f"{owner}.{f.crm}"] = (True, f.outbound)
    return objects, fields


def test_permission_set_equals_the_default_mapping() -> None:
    objects, fields, users = _granted()
    want_objects, want_fields = _expected()
    # Tasks are activities: the EditTask user permission governs them, not objectPermissions.
    assert "EditTask" in users and "ApiEnabled" in users
    want_task = want_objects.pop("Task")
    assert want_task == (True, True, True, True)
    assert objects == want_objects
    assert fields == want_fields


def test_every_custom_field_and_object_of_the_mapping_is_granted() -> None:
    objects, fields, _ = _granted()
    spec = load_mapping(MAPPING)
    for entity in spec.entities.values():
        if entity.sobject.endswith("__c"):
            assert objects[entity.sobject][0], entity.sobject
        for f in entity.fields.values():
            if f.crm.endswith("__c"):
                owner = "Activity" if entity.sobject == "Task" else entity.sobject
                assert fields[f"{owner}.{f.crm}"] == (True, f.outbound), (entity.name, f.crm)


def test_no_required_field_is_in_the_permission_set() -> None:
    """Deploying field permissions on a required field fails: they are always visible."""
    schema = build_schema()
    _, fields, _ = _granted()
    for key in fields:
        sobject, name = key.split(".")
        obj = schema["Task" if sobject == "Activity" else sobject]
        assert obj.fields[name].nillable, key
