"""Deterministic seeds: users, the demo data set and bulk Opportunities."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from connector.emulator.ids import is_valid_id
from connector.emulator.schema import ObjectDef
from connector.emulator.seed import ORG_ID, organization_row, seed_records, seed_users
from connector.emulator.standard import build_schema

TODAY = date(2025, 5, 15)


@pytest.fixture(scope="module")
def schema() -> dict[str, ObjectDef]:
    return build_schema()


def test_users_are_fixed() -> None:
    users = seed_users()
    assert [u.key for u in users] == ["integration", "admin", "partner"]
    assert users == seed_users()
    assert users[0].username == "integration@prm-emulator.local"
    assert all(u.id.startswith("005") and is_valid_id(u.id) for u in users)
    assert len({u.refresh_token for u in users}) == 3
    assert ORG_ID.startswith("00D") and is_valid_id(ORG_ID)
    sobject, org = organization_row()
    assert (sobject, org["Id"], org["Name"]) == ("Organization", ORG_ID, "PRM Emulator")
    fields = build_schema()["Organization"].fields
    assert set(org) <= set(fields)  # every value is a described field
    assert org["OrganizationType"] in {v.value for v in fields["OrganizationType"].picklist_values}
    assert len(org["InstanceName"]) <= (fields["InstanceName"].length or 0)


def test_empty_has_no_rows() -> None:
    assert list(seed_records("empty").rows()) == []
    with pytest.raises(ValueError):
        seed_records("nonsense")


def test_demo_is_deterministic() -> None:
    assert list(seed_records("demo", today=TODAY).rows()) == list(
        seed_records("demo", today=TODAY).rows())
    assert list(seed_records("demo", 50, today=TODAY).rows()) == list(
        seed_records("demo", 50, today=TODAY).rows())


def test_demo_contents() -> None:
    rows = list(seed_records("demo", today=TODAY).rows())
    counts = Counter(s for s, _ in rows)
    assert counts["ChannelProgram"] == 1 and counts["ChannelProgramLevel"] == 4
    levels = {v["Name"]: v["Rank"] for s, v in rows if s == "ChannelProgramLevel"}
    assert levels == {"Registered": 1.0, "Silver": 2.0, "Gold": 3.0, "Platinum": 4.0}
    partners = [v for s, v in rows if s == "Account" and v["IsPartner"]]
    assert len(partners) >= 15
    assert {p["Partner_Status__c"] for p in partners} == {
        "Prospect", "Onboarding", "Active", "Inactive"}
    assert counts["ChannelProgramMember"] == len(partners)
    assert any(s == "Account" and not v["IsPartner"] for s, v in rows)
    opps = [v for s, v in rows if s == "Opportunity"]
    assert len(opps) >= 50
    stages = {o["StageName"] for o in opps}
    assert {"Closed Won", "Closed Lost"} <= stages and len(stages) > 3
    assert min(o["CloseDate"] for o in opps) >= "2025-01-01"
    assert max(o["CloseDate"] for o in opps) <= "2025-06-30"
    for kind in ("Deal_Registration__c", "Partner_Certification__c", "PartnerMarketingBudget",
                 "PartnerFundAllocation", "PartnerFundRequest", "Task"):
        assert counts[kind] >= 1, kind


def test_demo_has_a_channel_conflict() -> None:
    regs = [v for s, v in seed_records("demo", today=TODAY).rows() if s == "Deal_Registration__c"]
    live = [r for r in regs if r["Status__c"] in ("Submitted", "Approved")]
    by_domain: dict[str, set[str]] = {}
    for r in live:
        by_domain.setdefault(r["End_Customer_Domain__c"], set()).add(r["Partner__c"])
    assert any(len(p) > 1 for p in by_domain.values())


@pytest.mark.parametrize(("kind", "records"), [("demo", 0), ("demo", 300), ("empty", 200)])
def test_rows_are_valid_for_the_schema(schema: dict[str, ObjectDef], kind: str,
                                       records: int) -> None:
    rows = list(seed_records(kind, records, today=TODAY).rows())
    ids = {v["Id"] for _, v in rows}
    assert len(ids) == len(rows)
    users = {u.id for u in seed_users()}
    prefixes = {o.key_prefix: n for n, o in schema.items()}
    for sobject, values in rows:
        obj = schema[sobject]
        assert prefixes[values["Id"][:3]] == sobject
        assert is_valid_id(values["Id"]) and len(values["Id"]) == 18
        for name, value in values.items():
            fd = obj.fields.get(name)
            assert fd is not None, f"{sobject}.{name}"
            if name == "Id" or value is None:
                continue
            # The seed is the org's state after its edits: update-only fields (IsPartner)
            # are set too.
            assert fd.createable or fd.updateable, f"{sobject}.{name}"
            if fd.type == "reference":
                assert value in ids or value in users, f"{sobject}.{name}={value}"
                target = prefixes[value[:3]]
                assert target in fd.reference_to
            elif fd.type in ("string", "textarea", "url", "email"):
                assert isinstance(value, str) and len(value) <= fd.length, f"{sobject}.{name}"
            elif fd.type == "picklist":
                assert value in [p.value for p in fd.picklist_values], f"{sobject}.{name}"
            elif fd.type == "date":
                assert date.fromisoformat(value)
            elif fd.type in ("double", "currency", "percent"):
                assert isinstance(value, float)
            elif fd.type == "boolean":
                assert isinstance(value, bool)
            elif fd.type == "int":
                assert isinstance(value, int)
        for fd in obj.fields.values():
            if fd.required_on_create:
                assert values.get(fd.name) is not None, f"{sobject}.{fd.name} missing"


def test_records_adds_opportunities() -> None:
    base = Counter(s for s, _ in seed_records("demo", today=TODAY).rows())
    more = Counter(s for s, _ in seed_records("demo", 1000, today=TODAY).rows())
    assert more["Opportunity"] == base["Opportunity"] + 1000
    assert more - Counter({"Opportunity": 1000}) == base
    empty = Counter(s for s, _ in seed_records("empty", 1000, today=TODAY).rows())
    assert empty["Opportunity"] == 1000 and empty["Account"] > 0


def test_a_large_records_count_adds_that_many_opportunities() -> None:
    """(How fast that is belongs in a benchmark, not here.)"""
    data = seed_records("demo", 100_000, today=TODAY)
    assert sum(1 for s, _ in data.rows() if s == "Opportunity") == 100_060
