"""Loads the org's custom objects and fields from the sfdx project's source-format metadata.

``salesforce/force-app/main/default/objects/<Object>/`` holds ``<Object>.object-meta.xml``
(custom objects only) and ``fields/<Field>.field-meta.xml``. Custom fields on ``Activity``
apply to ``Task`` (Salesforce shares activity custom fields between Task and Event).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from connector.emulator.schema import FieldDef, ObjectDef, PicklistValue

__all__ = [
    "child_relationship_names",
    "load_custom",
    "metadata_root",
    "owner_field",
    "system_fields",
]

NS = "{http://soap.sforce.com/2006/04/metadata}"
OBJECTS_DIR = Path("force-app") / "main" / "default" / "objects"
ACTIVITY_TARGETS = ("Task",)
# Custom objects get a01, a02, ... in the order of their sorted API names.
CUSTOM_PREFIXES = tuple(f"a{i:02d}" for i in range(1, 100))

_SIMPLE_TYPES = {
    "Date": "date",
    "DateTime": "datetime",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
}


REPO_ROOT = Path(__file__).resolve().parents[2] / "salesforce"
PACKAGED_ROOT = Path(__file__).resolve().parent / "metadata"


def metadata_root(repo: Path = REPO_ROOT, packaged: Path = PACKAGED_ROOT) -> Path:
    """The sfdx project directory: the repo's ``salesforce/``, else the copy packaged with
    the emulator (``connector/emulator/metadata/``, for installs without the repo)."""
    if (repo / "sfdx-project.json").is_file():
        return repo
    return packaged


def _ro(fd: FieldDef) -> FieldDef:
    return replace(fd, createable=False, updateable=False, nillable=False)


def system_fields() -> dict[str, FieldDef]:
    """The fields every sObject has: Id, IsDeleted, audit dates and audit user references."""
    fields = [
        FieldDef("Id", "id", label="Record ID", length=18, id_lookup=True),
        FieldDef("IsDeleted", "boolean", label="Deleted", default_value=False,
                 default_on_create=True),
        FieldDef("CreatedDate", "datetime", label="Created Date", default_on_create=True),
        FieldDef("CreatedById", "reference", label="Created By ID", length=18,
                 reference_to=("User",), relationship_name="CreatedBy", default_on_create=True),
        FieldDef("LastModifiedDate", "datetime", label="Last Modified Date",
                 default_on_create=True),
        FieldDef("LastModifiedById", "reference", label="Last Modified By ID", length=18,
                 reference_to=("User",), relationship_name="LastModifiedBy",
                 default_on_create=True),
        FieldDef("SystemModstamp", "datetime", label="System Modstamp", default_on_create=True),
    ]
    return {f.name: _ro(f) for f in fields}


def owner_field() -> FieldDef:
    """OwnerId: a User reference filled with the running user when a create leaves it out."""
    return FieldDef("OwnerId", "reference", label="Owner ID", length=18, nillable=False,
                    default_on_create=True, reference_to=("User",), relationship_name="Owner")


def _text(el: Element, tag: str, default: str = "") -> str:
    found = el.find(NS + tag)
    if found is None or found.text is None:
        return default
    return found.text.strip()


def _flag(el: Element, tag: str) -> bool:
    return _text(el, tag).lower() == "true"


def _int(el: Element, tag: str, default: int = 0) -> int:
    raw = _text(el, tag)
    return int(raw) if raw else default


def _parse(path: Path) -> Element:
    root: Element = ElementTree.parse(path).getroot()
    return root


def _field(el: Element) -> tuple[FieldDef, str | None]:
    """One CustomField element as a FieldDef, plus its child relationship name (lookups)."""
    name = _text(el, "fullName")
    label = _text(el, "label", name)
    sf_type = _text(el, "type")
    required = _flag(el, "required")
    nillable = not required
    child: str | None = None
    if sf_type == "Text":
        fd = FieldDef(name, "string", length=_int(el, "length", 255))
    elif sf_type == "TextArea":
        fd = FieldDef(name, "textarea", length=255)
    elif sf_type in ("LongTextArea", "Html"):
        fd = FieldDef(name, "textarea", length=_int(el, "length", 32768))
    elif sf_type == "Checkbox":
        default = _text(el, "defaultValue", "false").lower() == "true"
        nillable = False
        fd = FieldDef(name, "boolean", default_value=default, default_on_create=True)
    elif sf_type in ("Number", "Currency", "Percent"):
        kind = {"Number": "double", "Currency": "currency", "Percent": "percent"}[sf_type]
        fd = FieldDef(name, kind, precision=_int(el, "precision", 18), scale=_int(el, "scale"))
    elif sf_type in _SIMPLE_TYPES:
        kind = _SIMPLE_TYPES[sf_type]
        length = {"email": 80, "url": 255, "phone": 40}.get(kind, 0)
        fd = FieldDef(name, kind, length=length)
    elif sf_type in ("Picklist", "MultiselectPicklist"):
        values: list[PicklistValue] = []
        value_set = el.find(NS + "valueSet")
        restricted = False
        default_value: str | None = None
        if value_set is not None:
            restricted = _flag(value_set, "restricted")
            definition = value_set.find(NS + "valueSetDefinition")
            for v in definition.findall(NS + "value") if definition is not None else []:
                value = _text(v, "fullName")
                is_default = _flag(v, "default")
                if is_default:
                    default_value = value
                values.append(PicklistValue(value, _text(v, "label", value), True, is_default))
        kind = "picklist" if sf_type == "Picklist" else "multipicklist"
        fd = FieldDef(name, kind, length=255, picklist_values=tuple(values),
                      restricted_picklist=restricted, default_value=default_value,
                      default_on_create=default_value is not None)
    elif sf_type in ("Lookup", "MasterDetail"):
        refs = tuple(r.text.strip() for r in el.findall(NS + "referenceTo") if r.text)
        rel = name[:-3] + "__r" if name.endswith("__c") else name
        child_name = _text(el, "relationshipName")
        child = child_name + "__r" if child_name else None
        if sf_type == "MasterDetail":
            nillable = False
        fd = FieldDef(name, "reference", length=18, reference_to=refs, relationship_name=rel)
    else:
        raise ValueError(f"unsupported custom field type {sf_type!r} for {name}")
    fd = replace(fd, label=label, custom=True, nillable=nillable,
                 external_id=_flag(el, "externalId"), unique=_flag(el, "unique"))
    return fd, child


def _fields_dir(obj_dir: Path) -> list[Path]:
    fields = obj_dir / "fields"
    return sorted(fields.glob("*.field-meta.xml")) if fields.is_dir() else []


def _load(root: Path) -> tuple[dict[str, ObjectDef], dict[str, list[FieldDef]],
                               dict[tuple[str, str], str]]:
    base = root / OBJECTS_DIR
    objects: dict[str, ObjectDef] = {}
    extra: dict[str, list[FieldDef]] = {}
    children: dict[tuple[str, str], str] = {}
    obj_dirs = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    custom_names = sorted(p.name for p in obj_dirs if (p / f"{p.name}.object-meta.xml").exists())
    prefixes = dict(zip(custom_names, CUSTOM_PREFIXES, strict=False))
    for obj_dir in obj_dirs:
        name = obj_dir.name
        parsed = [_field(_parse(p)) for p in _fields_dir(obj_dir)]
        if name in prefixes:
            meta = _parse(obj_dir / f"{name}.object-meta.xml")
            name_el = meta.find(NS + "nameField")
            name_label = _text(name_el, "label", "Name") if name_el is not None else "Name"
            fields = system_fields()
            fields["Name"] = FieldDef("Name", "string", label=name_label, length=80,
                                      nillable=False, id_lookup=True)
            fields["OwnerId"] = owner_field()
            for fd, _ in parsed:
                fields[fd.name] = fd
            label = _text(meta, "label", name)
            objects[name] = ObjectDef(name, prefixes[name], label=label,
                                      label_plural=_text(meta, "pluralLabel", label),
                                      custom=True, fields=fields,
                                      sharing_model=_text(meta, "sharingModel", "ReadWrite"))
            targets = [name]
        else:
            targets = list(ACTIVITY_TARGETS) if name == "Activity" else [name]
            for target in targets:
                extra.setdefault(target, []).extend(fd for fd, _ in parsed)
        for fd, child in parsed:
            if child:
                for target in targets:
                    children[(target, fd.name)] = child
    return objects, extra, children


def load_custom(root: Path) -> tuple[dict[str, ObjectDef], dict[str, list[FieldDef]]]:
    """Custom objects (by name) and custom fields to add to standard objects (by object)."""
    objects, extra, _ = _load(root)
    return objects, extra


@functools.cache
def child_relationship_names(root: Path | None = None) -> dict[tuple[str, str], str]:
    """``(child object, lookup field) -> child relationship name`` (e.g. Deal_Registrations__r)."""
    return _load(root if root is not None else metadata_root())[2]
