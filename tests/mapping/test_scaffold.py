"""`mapping scaffold`: a starter entity from a describe that loads and validates as written."""

from __future__ import annotations

from typing import Any

import pytest

from connector.mapping import loads_mapping, scaffold, validate_against_describe
from connector.mapping.names import entity_name_for, local_name_for


@pytest.mark.parametrize(
    ("crm", "local"),
    [
        ("Status__c", "status"), ("End_Customer_Name__c", "end_customer_name"),
        ("Amount__c", "amount"), ("Partner__c", "partner"), ("PartnerAccountId", "partner"),
        ("ChannelPartnerId", "partner"), ("PartnerId", "partner"), ("StageName", "stage_name"),
        ("IsWon", "is_won"), ("LevelId", "level"), ("Id", "id"), ("PRM_Key__c", "prm_key"),
        ("SLAExpirationDate__c", "sla_expiration_date"),
    ],
)
def test_local_names_follow_the_contract(crm: str, local: str) -> None:
    assert local_name_for(crm) == local


@pytest.mark.parametrize(
    ("sobject", "entity"),
    [("Account", "account"), ("Deal_Registration__c", "deal_registration"),
     ("PartnerFundAllocation", "partner_fund_allocation")],
)
def test_entity_names_are_snake_case_without_suffix(sobject: str, entity: str) -> None:
    assert entity_name_for(sobject) == entity


@pytest.mark.parametrize(
    "sobject", ["Account", "Opportunity", "Deal_Registration__c", "Task", "PartnerFundRequest"]
)
def test_scaffold_loads_and_validates_against_its_own_describe(
    sobject: str, describes: dict[str, dict[str, Any]]
) -> None:
    """Given an object's describe, the scaffold is a valid mapping the org accepts."""
    text = scaffold(describes[sobject])
    spec = loads_mapping(text, "scaffold.yaml")
    assert validate_against_describe(spec, describes.get) == []
    (entity,) = spec.entities.values()
    assert entity.sobject == sobject
    assert all(f.direction == "in" for f in entity.fields.values())


def test_scaffold_names_types_and_comments_fields(describes: dict[str, dict[str, Any]]) -> None:
    text = scaffold(describes["Deal_Registration__c"])
    spec = loads_mapping(text)
    entity = spec.entities["deal_registration"]
    assert {n: f.crm for n, f in entity.fields.items()} == {
        "name": "Name", "partner": "Partner__c", "end_customer_name": "End_Customer_Name__c",
        "end_customer_domain": "End_Customer_Domain__c", "product": "Product__c",
        "amount": "Amount__c", "status": "Status__c", "decision_reason": "Decision_Reason__c",
        "registered_date": "Registered_Date__c", "expiration_date": "Expiration_Date__c",
    }
    assert entity.fields["amount"].local_type == "float"
    assert entity.fields["registered_date"].local_type == "date"
    assert "# picklist: Submitted, Pending Review, Approved, Rejected, Expired" in text
    assert "reference to Account" in text


def test_scaffold_skips_system_fields(describes: dict[str, dict[str, Any]]) -> None:
    entity = loads_mapping(scaffold(describes["Opportunity"])).entities["opportunity"]
    crm = set(entity.inbound_fields())
    assert not crm & {"Id", "IsDeleted", "SystemModstamp", "CreatedById", "OwnerId"}
    assert entity.fields["is_won"].local_type == "bool"


def test_scaffold_quotes_yaml_words_and_separates_clashing_names() -> None:
    describe = {"name": "Odd__c", "fields": [
        {"name": "On__c", "type": "boolean", "updateable": True},
        {"name": "Status", "type": "string"},
        {"name": "Status__c", "type": "string"},
        {"name": "Where", "type": "address"},
    ]}
    entity = loads_mapping(scaffold(describe)).entities["odd"]
    assert {n: f.crm for n, f in entity.fields.items()} == {
        "on": "On__c", "status": "Status", "status_2": "Status__c"}
