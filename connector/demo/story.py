"""The demo's scenes: what people do in Salesforce, and what to read back afterwards.

Each scene acts on the emulated org as the user who would really do it (the partner user
submits registrations and certifications, a sales rep closes deals) and names the records whose
fields show the connector's answer in Salesforce. The ids are the demo seed's fixed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

__all__ = ["SCENES", "Org", "ReadBack", "Scene"]

NORTHWIND = "0015g0000000001AAA"  # Active, certified, Platinum
CONTOSO = "0015g0000000002AAA"  # Active, certified, Gold
LITWARE = "0015g0000000007AAA"  # Active, no certification yet, Registered
PROSEWARE = "0015g0000000008AAA"  # Active distributor, Registered


class Org(Protocol):
    """The emulated org's in-process API the scenes use."""

    def create(self, sobject: str, values: dict[str, Any], user_id: str) -> str: ...

    def update(
        self, sobject: str, record_id: str, values: dict[str, Any], user_id: str
    ) -> None: ...


@dataclass(frozen=True)
class ReadBack:
    """A SOQL query whose rows show, in Salesforce, what the connector did."""

    label: str
    soql: str
    user: str = "integration"  # who reads it: "partner" signs in as the partner's portal user


@dataclass(frozen=True)
class Scene:
    """One step of the story: who does what in Salesforce, and where to look afterwards."""

    title: str
    expect: str
    act: Callable[[Org, dict[str, str], date, dict[str, str]], str]
    read_back: Callable[[dict[str, str]], list[ReadBack]] = field(default=lambda _ids: [])
    partner: str | None = None  # the partner whose PRM side (segments, points) to show


def _register_first(org: Org, users: dict[str, str], today: date, ids: dict[str, str]) -> str:
    ids["dr1"] = org.create(
        "Deal_Registration__c",
        {
            "Name": "DR-1001",
            "Partner__c": NORTHWIND,
            "End_Customer_Name__c": "Tailwind Traders",
            "End_Customer_Domain__c": "tailwindtraders.com",
            "Product__c": "Analytics Suite",
            "Amount__c": 80000.0,
            "Status__c": "Submitted",
            "Registered_Date__c": today.isoformat(),
            "Expiration_Date__c": (today + timedelta(days=90)).isoformat(),
        },
        users["partner"],
    )
    return "Northwind Partners registers an 80,000 deal with Tailwind Traders (DR-1001)"


def _register_conflict(org: Org, users: dict[str, str], today: date, ids: dict[str, str]) -> str:
    ids["dr2"] = org.create(
        "Deal_Registration__c",
        {
            "Name": "DR-1002",
            "Partner__c": CONTOSO,
            "End_Customer_Name__c": "Tailwind Traders, Inc.",
            "End_Customer_Domain__c": "tailwindtraders.com",
            "Product__c": "Analytics Suite",
            "Amount__c": 95000.0,
            "Status__c": "Submitted",
            "Registered_Date__c": today.isoformat(),
            "Expiration_Date__c": (today + timedelta(days=90)).isoformat(),
        },
        users["partner"],
    )
    return "Contoso Channel registers the same customer as 'Tailwind Traders, Inc.' (DR-1002)"


def _certify(org: Org, users: dict[str, str], today: date, ids: dict[str, str]) -> str:
    for key, name in (("cert1", "Cloud Fundamentals"), ("cert2", "Cloud Architect")):
        ids[key] = org.create(
            "Partner_Certification__c",
            {"Name": name, "Partner__c": LITWARE, "Completed_Date__c": today.isoformat()},
            users["partner"],
        )
    return (
        "Litware Consulting (Registered tier, no certification yet) passes Cloud Fundamentals "
        "and Cloud Architect, the two steps of the cloud technical track"
    )


def _big_deal(org: Org, users: dict[str, str], today: date, ids: dict[str, str]) -> str:
    ids["opp1"] = org.create(
        "Opportunity",
        {
            "Name": "Proseware - Data platform",
            "PartnerAccountId": PROSEWARE,
            "Amount": 650000.0,
            "StageName": "Negotiation/Review",
            "CloseDate": today.isoformat(),
        },
        users["admin"],
    )
    org.update("Opportunity", ids["opp1"], {"StageName": "Closed Won"}, users["admin"])
    return "A sales rep closes Proseware Group's 650,000 data-platform deal as won"


def _second_deal(org: Org, users: dict[str, str], today: date, ids: dict[str, str]) -> str:
    ids["opp2"] = org.create(
        "Opportunity",
        {
            "Name": "Proseware - Renewal",
            "PartnerAccountId": PROSEWARE,
            "Amount": 300000.0,
            "StageName": "Closed Won",
            "CloseDate": today.isoformat(),
        },
        users["admin"],
    )
    return "Another Proseware deal (300,000) closes won in the same quarter"


def _nothing(org: Org, users: dict[str, str], today: date, ids: dict[str, str]) -> str:
    return "Nobody changes anything; our own writes come back from Salesforce as echoes"


def _registrations(ids: dict[str, str]) -> list[ReadBack]:
    wanted = ", ".join(f"'{ids[k]}'" for k in ("dr1", "dr2") if k in ids)
    return [
        ReadBack(
            "Deal_Registration__c",
            "SELECT Name, Status__c, Decision_Reason__c FROM Deal_Registration__c "
            f"WHERE Id IN ({wanted}) ORDER BY Name",
        )
    ]


def _tier(_ids: dict[str, str]) -> list[ReadBack]:
    return [
        ReadBack(
            "Account",
            "SELECT Name, Partner_Tier__c, Partner_Points__c FROM Account "
            f"WHERE Id = '{LITWARE}'",
        ),
        ReadBack(
            "ChannelProgramMember",
            f"SELECT LevelId, Level.Name FROM ChannelProgramMember WHERE PartnerId = '{LITWARE}'",
        ),
        # what Litware's portal user sees, signed in through the API: its own account's
        # segments and incentives (no filter on the partner: sharing shows it only its own)
        ReadBack(
            "Account (as the partner's portal user)",
            f"SELECT Name, Partner_Segments__c FROM Account WHERE Id = '{LITWARE}'",
            user="partner",
        ),
        ReadBack(
            "Partner_Eligibility__c (as the partner's portal user)",
            "SELECT Name, Why__c, Since__c FROM Partner_Eligibility__c "
            "WHERE Kind__c = 'incentive' ORDER BY Name",
            user="partner",
        ),
    ]


def _mdf(_ids: dict[str, str]) -> list[ReadBack]:
    return [
        ReadBack(
            "PartnerFundAllocation",
            "SELECT Title, Amount, PRM_Key__c FROM PartnerFundAllocation "
            f"WHERE ChannelPartnerId = '{PROSEWARE}' ORDER BY Title",
        ),
        ReadBack(
            "Account",
            f"SELECT Name, Partner_Points__c FROM Account WHERE Id = '{PROSEWARE}'",
        ),
    ]


SCENES: tuple[Scene, ...] = (
    Scene(
        "A registration submitted by a certified partner",
        "approved at once, with the reason written beside it",
        _register_first,
        _registrations,
    ),
    Scene(
        "A conflicting registration for the same end customer",
        "routed to a channel manager; the reason names the first registration",
        _register_conflict,
        _registrations,
    ),
    Scene(
        "Certifications completed",
        "the track is complete: the partner enters the cloud-certified segment, moves up to "
        "Silver and earns points for each step; its portal user reads the new segment and the "
        "cloud launch fund it now qualifies for",
        _certify,
        _tier,
        LITWARE,
    ),
    Scene(
        "A big deal closed",
        "the quarter's volume passes 500,000: co-op MDF is released, points awarded",
        _big_deal,
        _mdf,
    ),
    Scene(
        "A second big deal in the same quarter",
        "points again, but MDF is released once per quarter",
        _second_deal,
        _mdf,
    ),
    Scene(
        "A quiet cycle",
        "nothing fires and nothing is written: echoes of our writes are recognised",
        _nothing,
    ),
)
