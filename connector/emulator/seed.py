"""Deterministic seed data for the emulated org: users and the ``empty`` / ``demo`` records.

How the org loads it:
- ``seed_users()`` and ``organization_row()`` are fixed: the same ids, usernames, passwords and
  refresh tokens in every org.
- ``seed_records(kind, records, today=...).rows()`` yields ``(sObject, values)`` with parents
  before children. Every dict already holds its final 18-char ``Id``
  (``make_id(prefix, n)``, one counter per key prefix starting at 1) and references other rows
  or the users by those ids, so rows are inserted as they come. System fields (CreatedDate,
  CreatedById, SystemModstamp, ...) and defaults (OwnerId when absent) are left to the org;
  calculated fields (IsClosed, IsWon) come from ``standard.compute_formulas``.
- Dates are relative to ``today`` (default: the real date), so "this quarter" stays meaningful;
  the same ``today`` gives the same rows (``random.Random`` with a fixed seed).
- ``records=N`` adds N Opportunities spread over the demo partners; with the ``empty`` seed the
  partners, program and customers they need are created too.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from connector.emulator.ids import make_id

__all__ = [
    "INTEGRATION_PERMISSION_SET",
    "ORG_ID",
    "ORG_NAME",
    "PARTNER_NAMES",
    "PORTAL_ACCOUNT_NAME",
    "SeedData",
    "UserSeed",
    "organization_row",
    "permission_rows",
    "seed_records",
    "seed_users",
]

ORG_ID = make_id("00D", 1)
ORG_NAME = "PRM Emulator"
INTEGRATION_PERMISSION_SET = "PRM_Connector_Integration"

PREFIX = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Task": "00T",
    "ChannelProgram": "0ch",
    "ChannelProgramLevel": "0ci",
    "ChannelProgramMember": "0cj",
    "PartnerMarketingBudget": "0ZG",
    "PartnerFundAllocation": "0ZH",
    "PartnerFundRequest": "0ZI",
    "Lead": "00Q",
    "Deal_Registration__c": "a01",
    "Partner_Certification__c": "a02",
}

LEVELS = (("Registered", 1), ("Silver", 2), ("Gold", 3), ("Platinum", 4))
PARTNER_NAMES = (
    "Northwind Partners", "Contoso Channel", "Fabrikam Solutions", "Adventure Works IT",
    "Tailspin Systems", "Wide World Integrators", "Litware Consulting", "Proseware Group",
    "Lucerne Technologies", "Alpine Ski Digital", "Coho Networks", "Fourth Coffee Cloud",
    "Graphic Design Institute", "Humongous Insurance Tech", "Margie's Travel Tech",
    "Blue Yonder Partners", "Trey Research Labs", "Woodgrove Advisors", "Wingtip Solutions",
    "Southridge Services",
)
# Per partner index: (status, level index or None).
PARTNER_PROFILE = (
    ("Active", 3), ("Active", 2), ("Active", 2), ("Active", 1), ("Active", 1),
    ("Active", 1), ("Active", 0), ("Active", 0), ("Active", 2), ("Active", 0),
    ("Onboarding", 0), ("Onboarding", 0), ("Onboarding", 1), ("Onboarding", 0),
    ("Prospect", 0), ("Prospect", 0), ("Prospect", 0),
    ("Inactive", 0), ("Inactive", 1), ("Inactive", 0),
)
CUSTOMERS = (
    ("Acme Corporation", "acme.example.com", "Manufacturing", "United States"),
    ("Globex Industries", "globex.example.com", "Energy", "United States"),
    ("Initech", "initech.example.com", "Technology", "United States"),
    ("Umbrella Health", "umbrella-health.example.com", "Healthcare", "United Kingdom"),
    ("Stark Retail", "stark-retail.example.com", "Retail", "Germany"),
    ("Wayne Logistics", "wayne-logistics.example.com", "Manufacturing", "Canada"),
    ("Cyberdyne Finance", "cyberdyne.example.com", "Finance", "France"),
    ("Soylent Foods", "soylent.example.com", "Agriculture", "Netherlands"),
)
PRODUCTS = ("Platform License", "Analytics Add-on", "Support Plan", "Implementation Services",
            "Security Suite")
OPEN_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
               "Negotiation/Review")
# The default probability of each of the org's default stages.
PROBABILITY = {"Prospecting": 10.0, "Qualification": 10.0, "Needs Analysis": 20.0,
               "Value Proposition": 50.0, "Id. Decision Makers": 60.0,
               "Perception Analysis": 70.0, "Proposal/Price Quote": 75.0,
               "Negotiation/Review": 90.0, "Closed Won": 100.0, "Closed Lost": 0.0}
# Per partner, cycled: what kind of partner, where, in which industry.
PARTNER_TYPES = ("Reseller", "Distributor", "Referral", "Alliance", "Service Provider", "MSP")
PARTNER_COUNTRIES = ("United States", "United Kingdom", "Germany", "Canada", "France",
                     "Australia", "Netherlands", "Japan", "Brazil")
PARTNER_INDUSTRIES = ("Technology", "Consulting", "Communications", "Technology", "Finance",
                      "Manufacturing", "Healthcare")
LEADS = (
    ("Maria", "Lopez", "Hooli", "maria.lopez@hooli.example.com", "Partner Referral"),
    ("Ken", "Adams", "Vandelay Imports", "ken@vandelay.example.com", "Web"),
    ("Priya", "Shah", "Pied Piper", "priya@piedpiper.example.com", "Partner Referral"),
    ("Tom", "Becker", "Dunder Paper", "tom.becker@dunder.example.com", "Phone Inquiry"),
)
CERTIFICATIONS = ("Sales Fundamentals", "Technical Specialist", "Solution Architect")


@dataclass(frozen=True)
class UserSeed:
    """One of the org's fixed users."""

    key: str
    username: str
    password: str
    id: str
    name: str
    email: str
    refresh_token: str


# The partner user's account: a portal user belongs to one partner (the demo's certification
# scene certifies it, and its portal user reads what it then qualifies for).
PORTAL_ACCOUNT_NAME = "Litware Consulting"


def seed_users(org_id_prefix: str = "00D") -> list[UserSeed]:
    """The org's users: integration (the connector), admin (seeded data) and partner."""
    del org_id_prefix  # the users are the same in every emulated org
    people = (("integration", "Integration User"), ("admin", "Admin User"),
              ("partner", "Partner User"))
    return [
        UserSeed(
            key=key,
            username=f"{key}@prm-emulator.local",
            password=f"emulator-{key}-pw",
            id=make_id("005", n),
            name=name,
            email=f"{key}@prm-emulator.local",
            refresh_token=f"5Aep861{key}RefreshToken{'x' * 24}{n}",
        )
        for n, (key, name) in enumerate(people, start=1)
    ]


def permission_rows(set_names: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any]]]:
    """``PermissionSet`` rows for ``(name, label)`` of each of the metadata's permission sets,
    then the integration user's assignment of PRM_Connector_Integration (the demo and the
    connector need what it grants; the admin and partner users see everything)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    ids: dict[str, str] = {}
    for n, (name, label) in enumerate(set_names, start=1):
        ids[name] = make_id("0PS", n)
        rows.append(("PermissionSet", {"Id": ids[name], "Name": name, "Label": label}))
    if INTEGRATION_PERMISSION_SET in ids:
        rows.append(("PermissionSetAssignment", {
            "Id": make_id("0Pa", 1),
            "AssigneeId": _user_id("integration"),
            "PermissionSetId": ids[INTEGRATION_PERMISSION_SET],
        }))
    return rows


def organization_row() -> tuple[str, dict[str, Any]]:
    """The org's single Organization record, with its final Id (system fields left out): a
    production org (no sandbox, no trial end, no namespace) of an edition that has partner
    relationship management."""
    return "Organization", {
        "Id": ORG_ID, "Name": ORG_NAME, "InstanceName": "EMU1", "IsSandbox": False,
        "OrganizationType": "Enterprise Edition", "NamespacePrefix": None,
        "TrialExpirationDate": None,
    }


def _user_id(key: str) -> str:
    return next(u.id for u in seed_users() if u.key == key)


@dataclass
class SeedData:
    """The seed's rows in insertion order (parents before children)."""

    _rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _counters: Counter[str] = field(default_factory=Counter)

    def add(self, sobject: str, values: dict[str, Any]) -> str:
        """Give ``values`` its Id, keep the row, return the Id."""
        prefix = PREFIX[sobject]
        self._counters[prefix] += 1
        rid = make_id(prefix, self._counters[prefix])
        values["Id"] = rid
        self._rows.append((sobject, values))
        return rid

    def rows(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(sObject, values) per record, parents first."""
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


@dataclass
class _Partners:
    ids: list[str]
    active: list[str]
    customers: list[str]


def _demo(data: SeedData, today: date, *, full: bool = True) -> _Partners:
    """The program, partners and end customers; with ``full`` also the rest of the demo."""
    admin = _user_id("admin")
    integration = _user_id("integration")
    program = data.add("ChannelProgram", {
        "Name": "Partner Program", "IsActive": True,
        "Description": "The default partner program: Registered, Silver, Gold, Platinum.",
    })
    levels = [data.add("ChannelProgramLevel", {"Name": name, "ProgramId": program,
                                               "Rank": rank,
                                               "Description": f"{name} partners"})
              for name, rank in LEVELS]
    partners: list[str] = []
    active: list[str] = []
    for i, (name, (status, level)) in enumerate(zip(PARTNER_NAMES, PARTNER_PROFILE,
                                                    strict=True)):
        slug = name.lower().replace("'", "").replace(" ", "-")
        signed = None if status == "Prospect" else (today - timedelta(days=30 + 17 * i))
        pid = data.add("Account", {
            "Name": name, "IsPartner": True, "Partner_Status__c": status,
            "Website": f"https://www.{slug}.example.com", "Type": "Channel Partner / Reseller",
            "Partner_Type__c": PARTNER_TYPES[i % len(PARTNER_TYPES)],
            "Industry": PARTNER_INDUSTRIES[i % len(PARTNER_INDUSTRIES)],
            "BillingCountry": PARTNER_COUNTRIES[i % len(PARTNER_COUNTRIES)],
            "Agreement_Signed_Date__c": signed.isoformat() if signed else None,
            "Channel_Manager__c": admin if i % 2 == 0 else integration,
            "Partner_Tier__c": LEVELS[level][0], "OwnerId": admin,
        })
        partners.append(pid)
        if status == "Active":
            active.append(pid)
        data.add("ChannelProgramMember", {"PartnerId": pid, "ProgramId": program,
                                          "LevelId": levels[level]})
    customers = [
        data.add("Account", {"Name": name, "IsPartner": False, "Website": f"https://{domain}",
                             "Type": "Customer - Channel", "Industry": industry,
                             "BillingCountry": country, "OwnerId": admin})
        for name, domain, industry, country in CUSTOMERS
    ]
    if not full:
        return _Partners(partners, active, customers)
    this_q = _quarter_start(today)
    last_q = _quarter_start(this_q - timedelta(days=1))
    rng = random.Random(42)
    for i in range(60):
        stage = ("Closed Won", "Closed Lost", *OPEN_STAGES)[i % 7]
        start = this_q if i % 2 == 0 else last_q
        close = start + timedelta(days=(i * 7) % 89)
        customer = i % len(CUSTOMERS)
        data.add("Opportunity", {
            "Name": f"{CUSTOMERS[customer][0]} - {PRODUCTS[i % len(PRODUCTS)]}",
            "AccountId": customers[customer], "PartnerAccountId": active[i % len(active)],
            "Amount": float(rng.randrange(5, 200) * 1000), "StageName": stage,
            "CloseDate": close.isoformat(), "Probability": PROBABILITY[stage],
            "OwnerId": admin,
        })
    statuses = ("Submitted", "Pending Review", "Approved", "Rejected", "Expired")
    for i in range(15):
        if i < 2:  # channel conflict: two partners claim the same end customer
            partner, customer, status = active[i], 0, ("Approved", "Submitted")[i]
        else:
            partner, customer, status = partners[i % 12], i % len(CUSTOMERS), statuses[i % 5]
        registered = today - timedelta(days=5 * i + 3)
        reason = {"Approved": "Partner sourced the opportunity.",
                  "Rejected": "Customer already engaged directly."}.get(status)
        data.add("Deal_Registration__c", {
            "Name": f"DR-{i + 1:04d}", "Partner__c": partner,
            "End_Customer_Name__c": CUSTOMERS[customer][0],
            "End_Customer_Domain__c": CUSTOMERS[customer][1],
            "Product__c": PRODUCTS[i % len(PRODUCTS)],
            "Amount__c": float(10_000 + 2_500 * i), "Status__c": status,
            "Decision_Reason__c": reason, "Registered_Date__c": registered.isoformat(),
            "Expiration_Date__c": (registered + timedelta(days=90)).isoformat(),
            "OwnerId": admin,
        })
    n_cert = 0
    for i, pid in enumerate(active):
        for c in range(i % 3 + 1 if i < 6 else 0):
            n_cert += 1
            data.add("Partner_Certification__c", {
                "Name": CERTIFICATIONS[c], "Partner__c": pid,
                "Completed_Date__c": (today - timedelta(days=20 * n_cert)).isoformat(),
                "PRM_Key__c": f"prm-cert-{n_cert:04d}" if n_cert % 4 == 0 else None,
                "OwnerId": admin,
            })
    year = date(today.year, 1, 1)
    budget = data.add("PartnerMarketingBudget", {
        "Title": f"{today.year} Partner MDF", "Amount": 100_000.0, "Type": "Marketing Funds",
        "StartDate": year.isoformat(), "EndDate": date(today.year, 12, 31).isoformat(),
        "OwnerId": admin,
    })
    allocations = [
        data.add("PartnerFundAllocation", {
            "Title": f"MDF {PARTNER_NAMES[k]}", "BudgetId": budget, "ChannelPartnerId": active[k],
            "Amount": amount, "OwnerId": admin, "PRM_Key__c": None,
        })
        for k, amount in ((0, 25_000.0), (1, 15_000.0))
    ]
    for k, (status, requested) in enumerate((("Submitted", 8_000.0), ("Approved", 5_000.0))):
        data.add("PartnerFundRequest", {
            "Title": f"Q campaign {PARTNER_NAMES[k]}", "ChannelPartnerId": active[k],
            "BudgetId": budget, "AllocationId": allocations[k], "RequestedAmount": requested,
            "Amount": requested if status == "Approved" else None, "Status": status,
            "OwnerId": admin,
        })
    for k, (first, last, company, email, source) in enumerate(LEADS):
        data.add("Lead", {
            "FirstName": first, "LastName": last, "Company": company, "Email": email,
            "LeadSource": source, "Status": "Open - Not Contacted",
            "PartnerAccountId": active[k] if source == "Partner Referral" else None,
            "OwnerId": admin,
        })
    for k, subject in enumerate(("Quarterly business review", "Send onboarding kit")):
        data.add("Task", {
            "Subject": subject, "ActivityDate": (today + timedelta(days=7 * (k + 1))).isoformat(),
            "Status": "Not Started", "Priority": ("High", "Normal")[k],
            "WhatId": partners[k], "OwnerId": admin, "PRM_Key__c": None,
            "Description": f"{subject} with {PARTNER_NAMES[k]}.",
        })
    return _Partners(partners, active, customers)


def _bulk_opportunities(data: SeedData, partners: _Partners, n: int, today: date) -> None:
    rng = random.Random(42)
    admin = _user_id("admin")
    stages = (*OPEN_STAGES, "Closed Won", "Closed Lost")
    start = _quarter_start(_quarter_start(today) - timedelta(days=1)).toordinal()
    span = today.toordinal() + 90 - start
    days = [date.fromordinal(start + d).isoformat() for d in range(span)]
    names = [f"{c[0]} - {p}" for c in CUSTOMERS for p in PRODUCTS]
    p_ids, c_ids = partners.ids, partners.customers
    rows = data._rows
    counters = data._counters
    prefix = PREFIX["Opportunity"]
    first = counters[prefix] + 1
    counters[prefix] += n
    randrange = rng.randrange
    for k in range(n):
        stage = stages[randrange(7)]
        rows.append(("Opportunity", {
            "Id": make_id(prefix, first + k),
            "Name": f"{names[randrange(len(names))]} #{k + 1}",
            "AccountId": c_ids[randrange(len(c_ids))],
            "PartnerAccountId": p_ids[randrange(len(p_ids))],
            "Amount": float(randrange(1, 500) * 500),
            "StageName": stage,
            "CloseDate": days[randrange(span)],
            "Probability": PROBABILITY[stage],
            "OwnerId": admin,
        }))


def seed_records(kind: str, records: int = 0, *, today: date | None = None) -> SeedData:
    """The seed ``kind`` ("empty" or "demo") plus ``records`` extra Opportunities."""
    if kind not in ("empty", "demo"):
        raise ValueError(f"unknown seed {kind!r} (empty or demo)")
    if records < 0:
        raise ValueError("records must be >= 0")
    day = today or date.today()
    data = SeedData()
    if kind == "demo" or records > 0:
        partners = _demo(data, day, full=kind == "demo")
        if records:
            _bulk_opportunities(data, partners, records, day)
    return data
