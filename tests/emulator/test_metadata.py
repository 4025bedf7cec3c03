"""The sfdx source in salesforce/ is deployable Salesforce metadata, and the loader maps it."""

from __future__ import annotations

import shutil
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree

from connector.emulator.metadata import (
    NS,
    PACKAGED_ROOT,
    REPO_ROOT,
    load_custom,
    metadata_root,
)

OBJECTS = REPO_ROOT / "force-app" / "main" / "default" / "objects"
FIELD_FILES = sorted(OBJECTS.glob("*/fields/*.field-meta.xml"))
OBJECT_FILES = sorted(OBJECTS.glob("*/*.object-meta.xml"))

# Every custom field of docs/model.md: (folder under objects/, field, metadata type).
MODEL_FIELDS = {
    ("Account", "Partner_Status__c", "Picklist"),
    ("Account", "Partner_Type__c", "Picklist"),
    ("Account", "Agreement_Signed_Date__c", "Date"),
    ("Account", "Channel_Manager__c", "Lookup"),
    ("Account", "Certifications__c", "Number"),
    ("Account", "Partner_Points__c", "Number"),
    ("Account", "Partner_Tier__c", "Text"),
    ("Account", "Partner_Segments__c", "MultiselectPicklist"),
    ("Deal_Registration__c", "Partner__c", "Lookup"),
    ("Deal_Registration__c", "End_Customer_Name__c", "Text"),
    ("Deal_Registration__c", "End_Customer_Domain__c", "Text"),
    ("Deal_Registration__c", "Product__c", "Text"),
    ("Deal_Registration__c", "Amount__c", "Currency"),
    ("Deal_Registration__c", "Status__c", "Picklist"),
    ("Deal_Registration__c", "Decision_Reason__c", "LongTextArea"),
    ("Deal_Registration__c", "Registered_Date__c", "Date"),
    ("Deal_Registration__c", "Expiration_Date__c", "Date"),
    ("Partner_Certification__c", "Partner__c", "Lookup"),
    ("Partner_Certification__c", "Completed_Date__c", "Date"),
    ("Partner_Certification__c", "PRM_Key__c", "Text"),
    ("PartnerFundAllocation", "PRM_Key__c", "Text"),
    ("Partner_Eligibility__c", "Partner__c", "Lookup"),
    ("Partner_Eligibility__c", "Kind__c", "Picklist"),
    ("Partner_Eligibility__c", "Key__c", "Text"),
    ("Partner_Eligibility__c", "Why__c", "Text"),
    ("Partner_Eligibility__c", "Since__c", "Date"),
    ("Partner_Eligibility__c", "PRM_Key__c", "Text"),
    ("Activity", "PRM_Key__c", "Text"),
}


def _root(path: Path) -> Element:
    root: Element = ElementTree.parse(path).getroot()
    return root


def _text(el: Element, tag: str) -> str | None:
    found = el.find(NS + tag)
    return None if found is None or found.text is None else found.text


def _check_order(el: Element, where: str) -> None:
    """Metadata API deploys reject elements out of the WSDL's sequence: fullName first, then
    alphabetical (repeated elements such as picklist values stay together)."""
    tags = [child.tag.removeprefix(NS) for child in el]
    keys = [(tag != "fullName", tag) for tag in tags]
    assert keys == sorted(keys), f"{where}: elements out of order: {tags}"
    for child in el:
        _check_order(child, where)


def test_every_model_field_has_a_file_with_its_type() -> None:
    found = {(p.parents[1].name, p.name.removesuffix(".field-meta.xml"),
              _text(_root(p), "type")) for p in FIELD_FILES}
    assert found == MODEL_FIELDS


@pytest.mark.parametrize("path", FIELD_FILES + OBJECT_FILES, ids=lambda p: p.name)
def test_file_is_source_format_metadata(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    root = _root(path)
    assert root.tag == NS + ("CustomField" if path.name.endswith(".field-meta.xml")
                             else "CustomObject")
    assert all(el.tag.startswith(NS) for el in root.iter())
    _check_order(root, path.name)


@pytest.mark.parametrize("path", FIELD_FILES, ids=lambda p: f"{p.parents[1].name}.{p.name}")
def test_field_has_what_its_type_needs(path: Path) -> None:
    el = _root(path)
    name = path.name.removesuffix(".field-meta.xml")
    assert _text(el, "fullName") == name and name.endswith("__c")
    assert _text(el, "label")
    kind = _text(el, "type")
    if kind == "Text":
        assert 1 <= int(_text(el, "length") or 0) <= 255
    elif kind == "LongTextArea":
        assert 256 <= int(_text(el, "length") or 0) <= 131072
        assert _text(el, "visibleLines")
    elif kind in ("Number", "Currency"):
        precision, scale = int(_text(el, "precision") or 0), int(_text(el, "scale") or 0)
        assert 1 <= precision <= 18 and 0 <= scale <= precision
    elif kind == "Lookup":
        assert _text(el, "referenceTo") and _text(el, "relationshipName")
        assert _text(el, "relationshipLabel")
        assert _text(el, "deleteConstraint") == "SetNull"
    elif kind == "Picklist":
        value_set = el.find(NS + "valueSet")
        assert value_set is not None
        assert _text(value_set, "restricted") == "true"
        values = value_set.findall(f"{NS}valueSetDefinition/{NS}value")
        assert values and all(_text(v, "fullName") == _text(v, "label") for v in values)
    elif kind == "MultiselectPicklist":
        value_set = el.find(NS + "valueSet")
        assert value_set is not None and _text(el, "visibleLines")
        values = value_set.findall(f"{NS}valueSetDefinition/{NS}value")
        assert values and all(";" not in (_text(v, "fullName") or ";") for v in values)
    if name == "PRM_Key__c":
        assert (_text(el, "externalId"), _text(el, "unique")) == ("true", "true")


@pytest.mark.parametrize("path", OBJECT_FILES, ids=lambda p: p.name)
def test_custom_object_file(path: Path) -> None:
    el = _root(path)
    assert _text(el, "deploymentStatus") == "Deployed"
    # eligibility is Private: a partner user reads its own account's records, no other's
    private = path.name == "Partner_Eligibility__c.object-meta.xml"
    assert _text(el, "sharingModel") == ("Private" if private else "ReadWrite")
    assert _text(el, "label") and _text(el, "pluralLabel")
    name_field = el.find(NS + "nameField")
    assert name_field is not None and _text(name_field, "type") == "Text"


def test_child_relationship_names_are_unique_per_parent() -> None:
    """A deploy fails when two lookups to one object share a child relationship name."""
    seen: dict[tuple[str, str], str] = {}
    for path in FIELD_FILES:
        el = _root(path)
        if _text(el, "type") != "Lookup":
            continue
        key = (_text(el, "referenceTo") or "", (_text(el, "relationshipName") or "").lower())
        assert key not in seen, f"{path} and {seen[key]}"
        seen[key] = str(path)


def test_packaged_copy_matches_the_repo() -> None:
    repo = sorted(p.relative_to(REPO_ROOT) for p in REPO_ROOT.rglob("*") if p.is_file())
    packaged = sorted(p.relative_to(PACKAGED_ROOT) for p in PACKAGED_ROOT.rglob("*")
                      if p.is_file())
    # One source: salesforce/ is edited; the packaged copy is refreshed from it with
    #   rm -rf connector/emulator/metadata && cp -r salesforce connector/emulator/metadata
    assert repo == packaged, "connector/emulator/metadata/ drifted from salesforce/"
    for rel in repo:
        assert (REPO_ROOT / rel).read_bytes() == (PACKAGED_ROOT / rel).read_bytes(), (
            f"{rel}: connector/emulator/metadata/ drifted from salesforce/")


def test_metadata_root_falls_back_to_the_packaged_copy(tmp_path: Path) -> None:
    assert metadata_root() == REPO_ROOT
    assert metadata_root(tmp_path / "missing") == PACKAGED_ROOT
    assert load_custom(metadata_root(tmp_path / "missing")) == load_custom(REPO_ROOT)


def test_prefixes_follow_sorted_names() -> None:
    objects, extra = load_custom(REPO_ROOT)
    assert {n: o.key_prefix for n, o in objects.items()} == {
        "Deal_Registration__c": "a01", "Partner_Certification__c": "a02",
        "Partner_Eligibility__c": "a03"}
    assert sorted(extra) == ["Account", "PartnerFundAllocation", "Task"]


FIELD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>{name}</fullName>
    <label>{name}</label>
    {extra}
    <type>{kind}</type>
</CustomField>
"""


def test_type_mapping(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT, tmp_path / "sfdx")
    fields = tmp_path / "sfdx" / OBJECTS.relative_to(REPO_ROOT) / "Deal_Registration__c" / "fields"
    cases = {
        "Flag__c": ("Checkbox", "<defaultValue>true</defaultValue>"),
        "Mail__c": ("Email", ""),
        "Site__c": ("Url", ""),
        "Tel__c": ("Phone", ""),
        "Share__c": ("Percent", "<precision>5</precision><scale>2</scale>"),
        "Seen__c": ("DateTime", ""),
        "Note__c": ("TextArea", ""),
        "Owner2__c": ("Lookup", "<referenceTo>User</referenceTo>"
                                "<relationshipName>Owned_Deals</relationshipName>"),
    }
    for name, (kind, extra) in cases.items():
        (fields / f"{name}.field-meta.xml").write_text(
            FIELD_XML.format(name=name, kind=kind, extra=extra))
    objects, _ = load_custom(tmp_path / "sfdx")
    got = objects["Deal_Registration__c"].fields
    assert {n: got[n].type for n in cases} == {
        "Flag__c": "boolean", "Mail__c": "email", "Site__c": "url", "Tel__c": "phone",
        "Share__c": "percent", "Seen__c": "datetime", "Note__c": "textarea",
        "Owner2__c": "reference"}
    assert got["Flag__c"].default_value is True and not got["Flag__c"].nillable
    assert (got["Share__c"].precision, got["Share__c"].scale) == (5, 2)
    assert got["Note__c"].length == 255
    assert got["Owner2__c"].relationship_name == "Owner2__r"
    assert got["Owner2__c"].reference_to == ("User",)
    assert all(f.custom for f in got.values() if f.name.endswith("__c"))
    assert got["Status__c"].restricted_picklist and got["Status__c"].type == "picklist"
    assert got["Amount__c"].type == "currency" and got["Decision_Reason__c"].length == 1000
    (fields / "Bad__c.field-meta.xml").write_text(
        FIELD_XML.format(name="Bad__c", kind="Hierarchy", extra=""))
    with pytest.raises(ValueError, match="Hierarchy"):
        load_custom(tmp_path / "sfdx")
