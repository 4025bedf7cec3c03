"""Record shapes, deleted rows, FIELDS(), caching and the relationship helpers."""

from __future__ import annotations

from typing import Any

import pytest

from connector.emulator.soql import (
    QueryResult,
    SoqlError,
    child_relationships,
    execute,
    parse,
    sobject_name,
)

from soqldata import NOW, MemorySource, short


def run(source: MemorySource, soql: str, **kw: Any) -> QueryResult:
    return execute(parse(soql), source, now=NOW, **kw)


def test_plain_record_shape_in_select_order(source: MemorySource) -> None:
    result = run(source, "SELECT Name, Id, AnnualRevenue FROM Account WHERE Name = 'Globex'")
    assert result.records == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v62.0/sobjects/Account/{short('A3')}",
            },
            "Name": "Globex",
            "Id": short("A3"),
            "AnnualRevenue": 5_000_000.0,
        }
    ]
    assert list(result.records[0]) == ["attributes", "Name", "Id", "AnnualRevenue"]


def test_canonical_names_and_api_version(source: MemorySource) -> None:
    result = run(
        source, "select name, owner.name from account where name = 'globex'", api_version="59.0"
    )
    record = result.records[0]
    assert record["attributes"]["url"].startswith("/services/data/v59.0/sobjects/Account/")
    assert record["Name"] == "Globex"
    assert record["Owner"]["Name"] == "Bob Builder"
    assert record["Owner"]["attributes"] == {
        "type": "User",
        "url": f"/services/data/v59.0/sobjects/User/{short('U2')}",
    }


def test_parent_paths_nest_and_merge_and_null(source: MemorySource) -> None:
    result = run(
        source,
        "SELECT Id, Owner.Name, Parent.Name, Owner.Email, Parent.Owner.Manager.Name "
        "FROM Account WHERE Name IN ('Wayne Enterprises', 'ACME Labs') ORDER BY Name",
    )
    labs, wayne = result.records
    assert list(labs) == ["attributes", "Id", "Owner", "Parent"]
    assert labs["Owner"]["Name"] == "Bob Builder"
    assert labs["Owner"]["Email"] == "bob@example.com"
    assert labs["Parent"]["Name"] == "Acme Corp"
    assert labs["Parent"]["Owner"]["Manager"] is None  # Alice has no manager
    assert wayne["Owner"] is None
    assert wayne["Parent"]["Name"] == "Stark Industries"
    assert wayne["Parent"]["Owner"]["Manager"] is None


def test_child_subqueries(source: MemorySource) -> None:
    result = run(
        source,
        "SELECT Name, (SELECT Name, Amount FROM Opportunities WHERE Amount != null "
        "ORDER BY Amount DESC LIMIT 1), (SELECT Name FROM Deal_Registrations__r) "
        "FROM Account WHERE Name IN ('Acme Corp', 'Globex', 'Initech') ORDER BY Name",
    )
    acme, globex, initech = result.records
    assert acme["Opportunities"] == {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {
                    "type": "Opportunity",
                    "url": f"/services/data/v62.0/sobjects/Opportunity/{short('O1')}",
                },
                "Name": "Acme Big Deal",
                "Amount": 500_000.0,
            }
        ],
    }
    assert [r["Name"] for r in acme["Deal_Registrations__r"]["records"]] == ["DR-1", "DR-2"]
    assert globex["Opportunities"]["totalSize"] == 1
    assert globex["Deal_Registrations__r"] is None
    assert initech["Opportunities"] is None


def test_child_relationship_names(source: MemorySource) -> None:
    rels = child_relationships(source, "account")
    assert {r.name for r in rels.values()} >= {
        "Contacts",
        "Opportunities",
        "Deal_Registrations__r",
        "ChildAccounts",
    }
    assert rels["deal_registrations__r"].field == "Partner__c"


def test_deleted_rows_only_with_query_all(source: MemorySource) -> None:
    soql = "SELECT Id FROM Account WHERE IsDeleted = true"
    assert run(source, soql).records == []
    assert [r["Id"] for r in run(source, soql, include_deleted=True).records] == [short("A11")]
    assert run(source, "SELECT COUNT() FROM Opportunity", include_deleted=True).total_size == 8


def test_fields_macros(source: MemorySource) -> None:
    std = run(source, "SELECT FIELDS(STANDARD) FROM Account WHERE Name = 'Globex'").records[0]
    assert "Name" in std and "Regions__c" not in std
    custom = run(source, "SELECT Id, FIELDS(CUSTOM) FROM Account LIMIT 200").records[0]
    assert set(custom) == {"attributes", "Id", "Regions__c", "Tier__c"}
    every = run(source, "SELECT FIELDS(ALL) FROM Account LIMIT 1").records[0]
    assert "Tier__c" in every and "SystemModstamp" in every


def test_parse_is_cached_and_sobject_name() -> None:
    soql = "SELECT Id FROM Deal_Registration__c"
    assert parse(soql) is parse(soql)
    assert sobject_name(parse(soql)) == "Deal_Registration__c"


def test_error_layout_matches_salesforce(source: MemorySource) -> None:
    with pytest.raises(SoqlError) as info:
        run(source, "SELECT Id FROM Foo")
    assert info.value.message == (
        "\nSELECT Id FROM Foo\n               ^\nERROR at Row:1:Column:16\n"
        "sObject type 'Foo' is not supported. If you are attempting to use a custom object, "
        "be sure to append the '__c' after the entity name. Please reference your WSDL or "
        "the describe call for the appropriate names."
    )
    assert info.value.body() == [{"message": info.value.message, "errorCode": "INVALID_TYPE"}]
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id\nFROM Account\nWHERE Name = ")
    assert info.value.message.startswith("\nWHERE Name = \n")
    assert "ERROR at Row:3:Column:14\nunexpected token: '<EOF>'" in info.value.message


def test_aggregate_total_size_counts_groups(source: MemorySource) -> None:
    result = run(source, "SELECT Type FROM Account GROUP BY Type")
    assert result.aggregate and result.total_size == 4
    assert {r["Type"] for r in result.records} == {"Partner", "Customer", "Prospect", None}
