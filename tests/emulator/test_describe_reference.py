"""Every field the default mapping reads or writes is described as a real org describes it.

Each row names the Object Reference page it follows. A field the default mapping starts to
use without a row here fails ``test_every_mapped_field_has_a_documented_row``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.emulator.describe import describe_sobject
from connector.emulator.schema import ObjectDef
from connector.emulator.standard import build_schema

MAPPING = Path(__file__).resolve().parents[2] / "connector" / "defaults" / "mapping.yaml"

REF = "https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/"
PAGES = {
    "Account": REF + "sforce_api_objects_account.htm",
    "ChannelProgram": REF + "sforce_api_objects_channelprogram.htm",
    "ChannelProgramLevel": "https://developer.salesforce.com/docs/platform/object-reference/"
    "references/standard-objects/object-channelprogramlevel.html",
    "ChannelProgramMember": "https://developer.salesforce.com/docs/platform/object-reference/"
    "references/standard-objects/object-channelprogrammember.html",
    "Opportunity": REF + "sforce_api_objects_opportunity.htm",
    "PartnerMarketingBudget": REF + "sforce_api_objects_partnermarketingbudget.htm",
    "PartnerFundAllocation": REF + "sforce_api_objects_partnerfundallocation.htm",
    "PartnerFundRequest": "https://developer.salesforce.com/docs/platform/object-reference/"
    "references/standard-objects/object-partnerfundrequest.html",
    "Task": REF + "sforce_api_objects_task.htm",
    "Lead": REF + "sforce_api_objects_lead.htm",
    # Custom fields: what the salesforce/ metadata declares (Metadata API CustomField).
    "custom": "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/"
    "customfield.htm",
    "customobject": "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/"
    "customobject.htm",
}

C, U, N = "create", "update", "nillable"


def _row(type_: str, *props: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "createable": C in props, "updateable": U in props,
            "nillable": N in props, **extra}


# (sObject, field) -> the describe properties the page lists.
DOCUMENTED: dict[tuple[str, str], dict[str, Any]] = {
    # Recorded describes of real orgs: Account.Name is no idLookup; PartnerFundAllocation.Title is.
    ("Account", "Name"): _row("string", C, U, idLookup=False),
    # "Enable as Partner" happens to an existing account: Update only, no Create.
    ("Account", "IsPartner"): _row("boolean", U),
    ("Account", "Website"): _row("url", C, U, N),
    ("Account", "BillingCountry"): _row("string", C, U, N),
    ("Account", "Industry"): _row("picklist", C, U, N),
    ("ChannelProgram", "Name"): _row("string", C, U, idLookup=True),
    ("ChannelProgram", "IsActive"): _row("boolean", C, U),
    ("ChannelProgram", "Description"): _row("textarea", C, U, N),
    ("ChannelProgramLevel", "Name"): _row("string", C, U, idLookup=True),
    # Master-detail: Create, Filter, Group, Sort; no Update (not reparentable).
    ("ChannelProgramLevel", "ProgramId"): _row("reference", C, relationshipName="Program"),
    ("ChannelProgramLevel", "Rank"): _row("int", C, U, N),
    ("ChannelProgramMember", "PartnerId"): _row("reference", C, U),
    ("ChannelProgramMember", "ProgramId"): _row("reference", C, relationshipName="Program"),
    ("ChannelProgramMember", "LevelId"): _row("reference", C, U, N),
    ("ChannelProgramMember", "Name"): _row("string", autoNumber=True, idLookup=True),
    ("Opportunity", "Name"): _row("string", C, U, idLookup=True),
    ("Opportunity", "AccountId"): _row("reference", C, U, N),
    ("Opportunity", "PartnerAccountId"): _row("reference", C, U, N),
    ("Opportunity", "Amount"): _row("currency", C, U, N, precision=18, scale=2),
    ("Opportunity", "StageName"): _row("picklist", C, U, restrictedPicklist=False),
    ("Opportunity", "CloseDate"): _row("date", C, U),
    # Read-only and set from the stage, but not formula fields: calculated is false.
    ("Opportunity", "IsClosed"): _row("boolean", calculated=False, defaultedOnCreate=True),
    ("Opportunity", "IsWon"): _row("boolean", calculated=False, defaultedOnCreate=True),
    ("PartnerMarketingBudget", "Title"): _row("string", C, U),
    ("PartnerMarketingBudget", "Amount"): _row("currency", C, U),
    ("PartnerMarketingBudget", "Type"): _row("picklist", C, U, restrictedPicklist=True),
    ("PartnerMarketingBudget", "StartDate"): _row("date", C, U, N),
    ("PartnerMarketingBudget", "EndDate"): _row("date", C, U, N),
    ("PartnerFundAllocation", "Title"): _row("string", C, U, idLookup=True),
    ("PartnerFundAllocation", "BudgetId"): _row("reference", C, U),
    ("PartnerFundAllocation", "ChannelPartnerId"): _row("reference", C, U, N),
    ("PartnerFundAllocation", "Amount"): _row("currency", C, U),
    ("PartnerFundRequest", "Title"): _row("string", C, U),
    ("PartnerFundRequest", "ChannelPartnerId"): _row("reference", C, U, N),
    ("PartnerFundRequest", "BudgetId"): _row("reference", C, U, N),
    ("PartnerFundRequest", "AllocationId"): _row("reference", C, U, N),
    ("PartnerFundRequest", "RequestedAmount"): _row("currency", C, U, N),
    ("PartnerFundRequest", "Amount"): _row("currency", C, U, N),
    ("PartnerFundRequest", "Status"): _row("picklist", C, U, N, restrictedPicklist=True),
    ("Task", "Subject"): _row("combobox", C, U, N),
    ("Task", "ActivityDate"): _row("date", C, U, N),
    ("Task", "Status"): _row("picklist", C, U),
    ("Task", "Priority"): _row("picklist", C, U),
    ("Task", "WhatId"): _row("reference", C, U, N),
    ("Task", "OwnerId"): _row("reference", C, U, defaultedOnCreate=True),
    ("Task", "Description"): _row("textarea", C, U, N),
    # A custom object's Name field (CustomObject nameField, Text): required, an idLookup.
    ("Deal_Registration__c", "Name"): _row("string", C, U, idLookup=True, length=80),
    ("Partner_Certification__c", "Name"): _row("string", C, U, idLookup=True, length=80),
    ("Partner_Eligibility__c", "Name"): _row("string", C, U, idLookup=True, length=80),
    ("Lead", "LastName"): _row("string", C, U),
    ("Lead", "Company"): _row("string", C, U),
    ("Lead", "Email"): _row("email", C, U, N, idLookup=True),
    ("Lead", "Status"): _row("picklist", C, U),
    ("Lead", "PartnerAccountId"): _row("reference", C, U, N),
}


def _mapped_fields() -> set[tuple[str, str]]:
    entities = yaml.safe_load(MAPPING.read_text())["entities"]
    out: set[tuple[str, str]] = set()
    for spec in entities.values():
        for value in spec["fields"].values():
            crm = value if isinstance(value, str) else value["crm"]
            out.add((spec["sobject"], crm))
    return out


@pytest.fixture(scope="module")
def described() -> dict[str, dict[str, dict[str, Any]]]:
    schema: dict[str, ObjectDef] = build_schema()
    return {
        name: {f["name"]: f for f in describe_sobject(obj, schema, "62.0")["fields"]}
        for name, obj in schema.items()
    }


def test_every_mapped_field_has_a_documented_row() -> None:
    """Standard fields need a row here; custom ones come from the metadata (checked below)."""
    missing = {k for k in _mapped_fields() if not k[1].endswith("__c")} - set(DOCUMENTED)
    assert not missing, f"add the Object Reference's properties for {sorted(missing)}"


@pytest.mark.parametrize(("key", "expected"), sorted(DOCUMENTED.items()),
                         ids=lambda v: ".".join(v) if isinstance(v, tuple) else "")
def test_field_is_described_as_the_object_reference_lists_it(
    described: dict[str, dict[str, dict[str, Any]]], key: tuple[str, str],
    expected: dict[str, Any],
) -> None:
    sobject, field = key
    got = described[sobject][field]
    assert {k: got[k] for k in expected} == expected, PAGES.get(sobject, PAGES["customobject"])


def test_custom_fields_match_their_metadata(
    described: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """customfield.htm: a required=false field is nillable, createable and updateable;
    externalId + unique for PRM_Key__c; a restricted value set is a restricted picklist."""
    for sobject, field in sorted(_mapped_fields()):
        if not field.endswith("__c"):
            continue
        got = described[sobject][field]
        assert got["custom"] and got["createable"] and got["updateable"], (sobject, field)
        if field == "PRM_Key__c":
            assert got["externalId"] and got["unique"] and got["idLookup"] is False
    acct = described["Account"]
    assert acct["Partner_Type__c"]["restrictedPicklist"]
    assert [p["value"] for p in acct["Partner_Type__c"]["picklistValues"]] == [
        "Reseller", "Distributor", "Referral", "Alliance", "Service Provider", "MSP"]
    for name in ("Partner_Tier__c", "Certifications__c", "Partner_Points__c"):
        assert acct[name]["custom"], name


def test_stage_names_are_the_default_ten(described: dict[str, dict[str, dict[str, Any]]]) -> None:
    """The default sales process of a new org (OpportunityStage, object reference)."""
    stages = [p["value"] for p in described["Opportunity"]["StageName"]["picklistValues"]]
    assert stages == [
        "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
        "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
        "Negotiation/Review", "Closed Won", "Closed Lost"]


def test_industry_values_are_the_32_of_a_new_org(
    described: dict[str, dict[str, dict[str, Any]]],
) -> None:
    """Account.Industry in a new org: Agriculture ... Utilities, 32 values, as describe lists
    them (recorded from real orgs)."""
    values = [p["value"] for p in described["Account"]["Industry"]["picklistValues"]]
    assert len(values) == 32 and values[0] == "Agriculture" and values[-1] == "Utilities"
    assert values == sorted(values)
    assert {"Apparel", "Food & Beverage", "Not For Profit", "Other", "Telecommunications"} <= set(
        values)


def test_budget_type_values(described: dict[str, dict[str, dict[str, Any]]]) -> None:
    """sforce_api_objects_partnermarketingbudget.htm: Co-Operated Budget, Marketing Funds."""
    values = [p["value"] for p in described["PartnerMarketingBudget"]["Type"]["picklistValues"]]
    assert values == ["Co-Operated Budget", "Marketing Funds"]


def test_required_fields_are_enforced_on_create() -> None:
    """Not nillable and createable without a default: a create must name it."""
    schema = build_schema()
    assert schema["PartnerMarketingBudget"].fields["Type"].required_on_create
    assert schema["PartnerMarketingBudget"].fields["Amount"].required_on_create
    assert schema["PartnerFundAllocation"].fields["Amount"].required_on_create
    assert not schema["PartnerFundAllocation"].fields["ChannelPartnerId"].required_on_create
    assert not schema["PartnerFundRequest"].fields["Status"].required_on_create
    assert not schema["ChannelProgramMember"].fields["Name"].required_on_create
