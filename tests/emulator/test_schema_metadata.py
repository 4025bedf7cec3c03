"""The default org schema follows docs/model.md and the salesforce/ metadata parses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from defusedxml import ElementTree

from connector.emulator.metadata import load_custom, metadata_root
from connector.emulator.schema import ObjectDef
from connector.emulator.standard import build_schema, compute_formulas

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate",
          "LastModifiedById", "SystemModstamp")


def _model_rows() -> list[tuple[str, str, str]]:
    """(sObject, Salesforce field, type text) per row of the model table."""
    rows: list[tuple[str, str, str]] = []
    sobject = ""
    for line in (ROOT / "docs" / "model.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or cells[0] == "entity" or (set(cells[0]) <= {"-"} and cells[0]):
            continue
        if cells[1]:
            sobject = cells[1].split(" (")[0]
        rows.append((sobject, cells[3], cells[4]))
    return rows


MODEL = _model_rows()


@pytest.fixture(scope="module")
def schema() -> dict[str, ObjectDef]:
    return build_schema()


def test_model_table_read() -> None:
    assert len(MODEL) > 60
    assert {s for s, _, _ in MODEL} >= {"Account", "Task", "PartnerFundRequest"}


@pytest.mark.parametrize(("sobject", "field", "type_text"), MODEL)
def test_model_field_exists_with_type(schema: dict[str, ObjectDef], sobject: str, field: str,
                                      type_text: str) -> None:
    obj = schema[sobject]
    fd = obj.fields.get(field)
    assert fd is not None, f"{sobject}.{field} missing"
    head = type_text.split(" ")[0].split("(")[0].split(":")[0]
    expected = {"lookup": "reference"}.get(head, head)
    assert fd.type == expected
    size = re.match(r"\w+\((\d+)(?:,(\d+))?\)", type_text)
    if size and fd.type in ("string", "textarea", "url", "combobox"):
        assert fd.length == int(size.group(1))
    elif size:
        assert (fd.precision, fd.scale) == (int(size.group(1)), int(size.group(2) or 0))
    if ("picklist" in type_text or "combobox" in type_text) and (
            ":" in type_text or "(" in type_text):
        listed = type_text.split(":", 1)[1] if ":" in type_text else type_text.split("(", 1)[1]
        values = [v.strip(" )") for v in listed.split(" (any")[0].split(",")]
        assert [p.value for p in fd.picklist_values] == values
        assert fd.restricted_picklist == ("restricted" in type_text)
    if "external id" in type_text:
        assert fd.external_id and fd.unique


def test_every_object_has_system_fields(schema: dict[str, ObjectDef]) -> None:
    prefixes = [o.key_prefix for o in schema.values()]
    assert len(set(prefixes)) == len(prefixes)
    for obj in schema.values():
        for name in SYSTEM:
            fd = obj.fields[name]
            assert not fd.createable and not fd.updateable and not fd.nillable, (obj.name, name)
        assert obj.fields["Id"].id_lookup
        assert obj.fields["CreatedById"].relationship_name == "CreatedBy"


def test_standard_prefixes_and_flags(schema: dict[str, ObjectDef]) -> None:
    assert {n: schema[n].key_prefix for n in ("User", "Organization", "Account", "Contact",
                                              "Opportunity", "Task")} == {
        "User": "005", "Organization": "00D", "Account": "001", "Contact": "003",
        "Opportunity": "006", "Task": "00T"}
    opp = schema["Opportunity"]
    assert opp.fields["PartnerAccountId"].createable and opp.fields["PartnerAccountId"].updateable
    assert not opp.fields["IsWon"].calculated and not opp.fields["IsWon"].createable
    assert opp.fields["StageName"].required_on_create
    assert schema["Account"].fields["Name"].required_on_create
    assert not schema["Account"].fields["OwnerId"].required_on_create
    status = schema["Task"].fields["Status"]
    assert [p.value for p in status.picklist_values if p.default] == ["Not Started"]
    dr = schema["Deal_Registration__c"]
    assert dr.custom and dr.key_prefix == "a01"
    assert schema["Partner_Certification__c"].key_prefix == "a02"
    assert dr.fields["Partner__c"].relationship_name == "Partner__r"
    assert dr.fields["Partner__c"].reference_to == ("Account",)
    assert dr.fields["Name"].required_on_create
    assert schema["Account"].fields["Channel_Manager__c"].reference_to == ("User",)
    assert schema["Account"].fields["Partner_Status__c"].custom


def test_compute_formulas(schema: dict[str, ObjectDef]) -> None:
    rec: dict[str, object] = {"StageName": "Closed Won"}
    compute_formulas(schema["Opportunity"], rec)
    assert rec["IsClosed"] is True and rec["IsWon"] is True
    rec["StageName"] = "Closed Lost"
    compute_formulas(schema["Opportunity"], rec)
    assert rec["IsClosed"] is True and rec["IsWon"] is False
    rec["StageName"] = "Proposal"
    compute_formulas(schema["Opportunity"], rec)
    assert rec["IsClosed"] is False and rec["IsWon"] is False


def test_metadata_files_parse() -> None:
    root = metadata_root()
    assert root == ROOT / "salesforce"
    project = json.loads((root / "sfdx-project.json").read_text())
    assert project["packageDirectories"][0]["path"] == "force-app"
    files = sorted(root.rglob("*-meta.xml"))
    assert len(files) >= 20
    for path in files:
        el = ElementTree.parse(path).getroot()
        assert el.tag.startswith("{http://soap.sforce.com/2006/04/metadata}")
    activity = root / "force-app/main/default/objects/Activity/fields/PRM_Key__c.field-meta.xml"
    assert activity.exists()


def test_load_custom_from_copy(tmp_path: Path) -> None:
    objects, extra = load_custom(metadata_root())
    assert sorted(objects) == [
        "Deal_Registration__c", "Partner_Certification__c", "Partner_Eligibility__c"]
    assert [f.name for f in extra["Task"]] == ["PRM_Key__c"]
    assert "Activity" not in extra
    assert load_custom(tmp_path) == ({}, {})
