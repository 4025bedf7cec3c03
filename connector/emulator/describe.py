"""``sobjects/X/describe`` and ``sobjects`` (global describe) JSON, shaped like Salesforce's."""

from __future__ import annotations

from typing import Any

from connector.emulator.access import permissionable
from connector.emulator.metadata import child_relationship_names
from connector.emulator.schema import FieldDef, ObjectDef

__all__ = ["SOAP_TYPES", "describe_field", "describe_global", "describe_sobject"]

SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "picklist": "xsd:string",
    "multipicklist": "xsd:string",
    "textarea": "xsd:string",
    "url": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
TEXT_TYPES = frozenset(
    ("id", "reference", "string", "picklist", "multipicklist", "textarea", "url", "email",
     "phone"))
NUMBER_TYPES = frozenset(("double", "currency", "percent"))
GROUPABLE = frozenset(
    ("id", "reference", "string", "picklist", "boolean", "date", "email", "url", "phone",
     "int"))
SYSTEM_FIELDS = frozenset(
    ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
     "SystemModstamp"))
MERGEABLE = frozenset(("Account", "Contact"))


def _version(api_version: str) -> str:
    return api_version[1:] if api_version.lower().startswith("v") else api_version


def _name_field(obj: ObjectDef) -> str | None:
    for candidate in ("Name", "Title", "Subject"):
        if candidate in obj.fields:
            return candidate
    return None


def _picklist(fd: FieldDef) -> list[dict[str, Any]]:
    return [
        {"active": p.active, "defaultValue": p.default, "label": p.label or p.value,
         "validFor": None, "value": p.value}
        for p in fd.picklist_values
    ]


def describe_field(obj: ObjectDef, fd: FieldDef) -> dict[str, Any]:
    """One entry of a describe's ``fields``."""
    kind = fd.type
    text = kind in TEXT_TYPES
    length = fd.length if text else 0
    if kind in ("id", "reference"):
        length = 18
    polymorphic = kind == "reference" and len(fd.reference_to) > 1
    default_value: Any = None
    if kind == "boolean":
        default_value = bool(fd.default_value) if fd.default_value is not None else False
    long_text = kind == "textarea" and fd.length > 255
    return {
        "aggregatable": kind not in ("textarea", "boolean", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": fd.auto_number,
        "byteLength": length * 3 if text and kind not in ("id", "reference") else length,
        "calculated": fd.calculated,
        "calculatedFormula": fd.formula if fd.calculated else None,
        "cascadeDelete": False,
        "caseSensitive": False,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": fd.createable,
        "custom": fd.custom,
        "defaultValue": default_value,
        "defaultValueFormula": None,
        "defaultedOnCreate": fd.default_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if kind == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": fd.external_id,
        "extraTypeInfo": None,
        "filterable": not long_text,
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": kind in GROUPABLE,
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": fd.id_lookup,
        "inlineHelpText": None,
        "label": fd.label or fd.name,
        "length": length,
        "mask": None,
        "maskType": None,
        "name": fd.name,
        "nameField": fd.name == _name_field(obj),
        "namePointing": polymorphic,
        "nillable": fd.nillable,
        "permissionable": permissionable(fd),
        "picklistValues": _picklist(fd),
        "polymorphicForeignKey": polymorphic,
        "precision": fd.precision if kind in NUMBER_TYPES else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(fd.reference_to),
        "relationshipName": fd.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": fd.restricted_picklist,
        "scale": fd.scale if kind in NUMBER_TYPES else 0,
        "searchPrefilterable": kind == "reference",
        "soapType": SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": not long_text and kind != "multipicklist",
        "type": kind,
        "unique": fd.unique,
        "updateable": fd.updateable,
        "writeRequiresMasterRead": False,
    }


def _plural_name(child: ObjectDef) -> str:
    if child.custom:
        base = child.name[:-3] if child.name.endswith("__c") else child.name
        return base + "s__r"
    plural = child.label_plural or child.name + "s"
    return "".join(part for part in plural.split() if part.isalnum())


def child_relationships(obj: ObjectDef, schema: dict[str, ObjectDef]) -> list[dict[str, Any]]:
    """Reference fields of every object (this one included) that point at ``obj``."""
    custom_names = child_relationship_names()
    taken: set[str] = set()
    out: list[dict[str, Any]] = []
    for child in schema.values():
        for fd in child.fields.values():
            if fd.type != "reference" or obj.name not in fd.reference_to:
                continue
            name: str | None
            if fd.name in SYSTEM_FIELDS or fd.name == "OwnerId":
                name = None
            elif fd.custom:
                name = custom_names.get((child.name, fd.name)) or _plural_name(child)
            elif child.name == obj.name and fd.name == "ParentId":
                name = "Child" + _plural_name(child)
            else:
                name = _plural_name(child)
            if name is not None:
                if name.lower() in taken:
                    name = None
                else:
                    taken.add(name.lower())
            out.append({
                "cascadeDelete": False,
                "childSObject": child.name,
                "deprecatedAndHidden": False,
                "field": fd.name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": name,
                "restrictedDelete": False,
            })
    return out


def _urls(obj: ObjectDef, api_version: str, *, full: bool) -> dict[str, str]:
    base = f"/services/data/v{_version(api_version)}/sobjects/{obj.name}"
    urls = {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}
    if full:
        urls.update({
            "compactLayouts": f"{base}/describe/compactLayouts",
            "approvalLayouts": f"{base}/describe/approvalLayouts",
            "listviews": f"{base}/listviews",
            "quickActions": f"{base}/quickActions",
            "layouts": f"{base}/describe/layouts",
            "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        })
    return urls


def _object_flags(obj: ObjectDef) -> dict[str, Any]:
    return {
        "activateable": False,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label or obj.name,
        "labelPlural": obj.label_plural or obj.label or obj.name,
        "layoutable": obj.createable,
        "mergeable": obj.name in MERGEABLE,
        "mruEnabled": obj.createable,
        "name": obj.name,
        "queryable": obj.queryable,
        "replicateable": obj.replicateable,
        "retrieveable": True,
        "searchable": obj.createable,
        "triggerable": obj.createable,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
    }


def describe_sobject(obj: ObjectDef, schema: dict[str, ObjectDef],
                     api_version: str) -> dict[str, Any]:
    """The body of ``GET sobjects/{obj}/describe``."""
    out = _object_flags(obj)
    out.update({
        "actionOverrides": [],
        "childRelationships": child_relationships(obj, schema),
        "compactLayoutable": obj.createable,
        "dataTranslationEnabled": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "extendedBy": None,
        "extendsInterfaces": None,
        "fields": [describe_field(obj, fd) for fd in obj.fields.values()],
        "implementedBy": None,
        "implementsInterfaces": None,
        "listviewable": None,
        "lookupLayoutable": None,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "recordTypeInfos": [],
        "searchLayoutable": obj.createable,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + (obj.label_plural or obj.name),
                             "name": "everything"}],
        "urls": _urls(obj, api_version, full=True),
    })
    return dict(sorted(out.items()))


def describe_global(schema: dict[str, ObjectDef], api_version: str) -> dict[str, Any]:
    """The body of ``GET sobjects`` (global describe)."""
    sobjects = []
    for obj in sorted(schema.values(), key=lambda o: o.name):
        entry = _object_flags(obj)
        entry["urls"] = _urls(obj, api_version, full=False)
        sobjects.append(dict(sorted(entry.items())))
    return {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}
