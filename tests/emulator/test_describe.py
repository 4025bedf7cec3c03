"""sObject and global describe JSON shapes."""

from __future__ import annotations

import pytest

from connector.emulator.describe import describe_global, describe_sobject
from connector.emulator.schema import ObjectDef
from connector.emulator.standard import build_schema

FIELD_KEYS = {
    "aggregatable", "autoNumber", "byteLength", "calculated", "calculatedFormula",
    "cascadeDelete", "caseSensitive", "createable", "custom", "defaultValue",
    "defaultedOnCreate", "dependentPicklist", "deprecatedAndHidden", "digits", "externalId",
    "filterable", "groupable", "htmlFormatted", "idLookup", "inlineHelpText", "label", "length",
    "name", "nameField", "namePointing", "nillable", "permissionable", "picklistValues",
    "polymorphicForeignKey", "precision", "referenceTo", "relationshipName",
    "relationshipOrder", "restrictedPicklist", "scale", "soapType", "sortable", "type",
    "unique", "updateable", "writeRequiresMasterRead",
}
OBJECT_KEYS = {
    "name", "label", "labelPlural", "keyPrefix", "custom", "createable", "updateable",
    "deletable", "queryable", "replicateable", "retrieveable", "searchable", "triggerable",
    "undeletable", "layoutable", "mergeable", "feedEnabled", "activateable", "customSetting",
    "childRelationships", "fields", "recordTypeInfos", "urls",
}


@pytest.fixture(scope="module")
def schema() -> dict[str, ObjectDef]:
    return build_schema()


def test_every_field_has_the_full_property_set(schema: dict[str, ObjectDef]) -> None:
    for obj in schema.values():
        d = describe_sobject(obj, schema, "62.0")
        assert d.keys() >= OBJECT_KEYS
        assert [f["name"] for f in d["fields"]] == list(obj.fields)
        for f in d["fields"]:
            assert f.keys() >= FIELD_KEYS, (obj.name, f["name"])
        assert d["urls"]["sobject"] == f"/services/data/v62.0/sobjects/{obj.name}"
        assert d["urls"]["rowTemplate"].endswith(f"/{obj.name}/{{ID}}")


def test_soap_types_and_properties(schema: dict[str, ObjectDef]) -> None:
    d = describe_sobject(schema["Opportunity"], schema, "v62.0")
    fields = {f["name"]: f for f in d["fields"]}
    assert {n: fields[n]["soapType"] for n in
            ("Id", "AccountId", "Name", "StageName", "IsWon", "Amount", "CloseDate",
             "CreatedDate", "Probability")} == {
        "Id": "tns:ID", "AccountId": "tns:ID", "Name": "xsd:string", "StageName": "xsd:string",
        "IsWon": "xsd:boolean", "Amount": "xsd:double", "CloseDate": "xsd:date",
        "CreatedDate": "xsd:dateTime", "Probability": "xsd:double"}
    assert fields["Amount"]["precision"] == 18 and fields["Amount"]["scale"] == 2
    assert fields["Name"]["length"] == 120 and fields["Name"]["nameField"]
    assert not fields["IsWon"]["calculated"] and not fields["IsWon"]["createable"]
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    stages = [p["value"] for p in fields["StageName"]["picklistValues"]]
    assert stages[-2:] == ["Closed Won", "Closed Lost"]
    assert set(fields["StageName"]["picklistValues"][0]) == {
        "active", "defaultValue", "label", "validFor", "value"}
    assert fields["Id"]["idLookup"] and not fields["Id"]["nillable"]
    task = {f["name"]: f for f in describe_sobject(schema["Task"], schema, "62.0")["fields"]}
    assert task["WhatId"]["polymorphicForeignKey"] and len(task["WhatId"]["referenceTo"]) > 1
    assert task["PRM_Key__c"]["externalId"] and task["PRM_Key__c"]["custom"]


def test_account_child_relationships(schema: dict[str, ObjectDef]) -> None:
    d = describe_sobject(schema["Account"], schema, "62.0")
    rels = {(c["childSObject"], c["field"]): c for c in d["childRelationships"]}
    assert rels[("Opportunity", "AccountId")]["relationshipName"] == "Opportunities"
    assert rels[("Deal_Registration__c", "Partner__c")]["relationshipName"] == (
        "Deal_Registrations__r")
    assert rels[("Partner_Certification__c", "Partner__c")]["relationshipName"] == (
        "Partner_Certifications__r")
    assert rels[("Account", "ParentId")]["relationshipName"] == "ChildAccounts"
    assert rels[("Contact", "AccountId")]["relationshipName"] == "Contacts"
    names = [c["relationshipName"] for c in d["childRelationships"] if c["relationshipName"]]
    assert len(names) == len(set(names))
    for c in d["childRelationships"]:
        assert {"cascadeDelete", "childSObject", "deprecatedAndHidden", "field",
                "relationshipName", "restrictedDelete"} <= c.keys()


def test_global_describe(schema: dict[str, ObjectDef]) -> None:
    g = describe_global(schema, "62.0")
    assert g["encoding"] == "UTF-8" and g["maxBatchSize"] == 200
    by_name = {s["name"]: s for s in g["sobjects"]}
    assert set(by_name) == set(schema)
    dr = by_name["Deal_Registration__c"]
    assert dr["custom"] and dr["keyPrefix"] == "a01" and dr["queryable"]
    assert dr["urls"] == {
        "sobject": "/services/data/v62.0/sobjects/Deal_Registration__c",
        "describe": "/services/data/v62.0/sobjects/Deal_Registration__c/describe",
        "rowTemplate": "/services/data/v62.0/sobjects/Deal_Registration__c/{ID}",
    }
    assert not by_name["Organization"]["createable"]


TAP_TYPES = {"id", "string", "textarea", "combobox", "boolean", "double", "currency", "percent",
             "int", "date", "datetime", "picklist", "multipicklist", "reference", "email", "url",
             "phone"}  # tap-salesforce reads multipicklist as a string too


def test_what_tap_salesforce_reads(schema: dict[str, ObjectDef]) -> None:
    """tap-salesforce selects sObjects on queryable/replicateable and fields on type/nillable."""
    for s in describe_global(schema, "62.0")["sobjects"]:
        assert s["queryable"] and s["replicateable"] and s["retrieveable"], s["name"]
    for obj in schema.values():
        fields = {f["name"]: f for f in describe_sobject(obj, schema, "62.0")["fields"]}
        assert {f["type"] for f in fields.values()} <= TAP_TYPES
        assert fields["SystemModstamp"]["type"] == "datetime"
        assert not fields["SystemModstamp"]["nillable"]
        for name, fd in obj.fields.items():
            assert fields[name]["nillable"] == fd.nillable


def test_restricted_picklists_and_formulas(schema: dict[str, ObjectDef]) -> None:
    def fields(name: str) -> dict[str, dict[str, object]]:
        return {f["name"]: f for f in describe_sobject(schema[name], schema, "62.0")["fields"]}

    dr, opp, acct, pmb = (fields(n) for n in (
        "Deal_Registration__c", "Opportunity", "Account", "PartnerMarketingBudget"))
    assert dr["Status__c"]["restrictedPicklist"] is True
    assert acct["Partner_Status__c"]["restrictedPicklist"] is True
    assert pmb["Type"]["restrictedPicklist"] is True
    assert opp["StageName"]["restrictedPicklist"] is False
    assert opp["IsWon"]["calculatedFormula"] is None and not opp["IsClosed"]["updateable"]
    assert opp["Amount"]["calculatedFormula"] is None
    assert dr["Partner__c"]["relationshipName"] == "Partner__r" and dr["Partner__c"]["custom"]
    assert dr["Name"]["nameField"] and not dr["Name"]["nillable"]
    assert pmb["Title"]["nameField"]
    assert acct["Name"]["byteLength"] == 255 * 3
    assert dr["Amount__c"]["soapType"] == "xsd:double" and dr["Amount__c"]["type"] == "currency"
    assert not fields("ChannelProgramMember")["ProgramId"]["updateable"]
