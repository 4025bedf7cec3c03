# ruff: noqa: E501  (table rows read best one per line)
"""A fixed in-memory org for the SOQL engine tests: five objects, a few dozen rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.emulator.schema import FieldDef, ObjectDef

NOW = datetime(2026, 11, 22, 10, 16, 9, tzinfo=UTC)

PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Deal_Registration__c": "a01",
}


def rid(prefix: str, n: int) -> str:
    """An 18-character id: prefix, zero padding, the number and a fixed suffix."""
    return f"{prefix}{n:012d}AAA"


def short(name: str) -> str:
    """``A1`` -> the Account with number 1 (A Account, O Opportunity, U User, C Contact, D deal)."""
    kind = {"A": "001", "O": "006", "U": "005", "C": "003", "D": "a01"}[name[0]]
    return rid(kind, int(name[1:]))


def _f(name: str, ftype: str, **kw: Any) -> FieldDef:
    return FieldDef(name=name, type=ftype, **kw)


def _ref(name: str, to: str, rel: str, *, custom: bool = False) -> FieldDef:
    return FieldDef(
        name=name, type="reference", reference_to=(to,), relationship_name=rel, custom=custom
    )


def _system(*extra: FieldDef) -> dict[str, FieldDef]:
    fields = [
        _f("Id", "id", nillable=False),
        _f("IsDeleted", "boolean"),
        *extra,
        _f("CreatedDate", "datetime"),
        _f("SystemModstamp", "datetime"),
    ]
    return {f.name: f for f in fields}


def object_defs() -> dict[str, ObjectDef]:
    defs = [
        ObjectDef(
            "User",
            "005",
            label_plural="Users",
            fields=_system(
                _f("Name", "string"),
                _f("Email", "email"),
                _f("IsActive", "boolean"),
                _ref("ManagerId", "User", "Manager"),
            ),
        ),
        ObjectDef(
            "Account",
            "001",
            label_plural="Accounts",
            fields=_system(
                _f("Name", "string"),
                _f("Type", "picklist"),
                _f("Industry", "picklist"),
                _f("AnnualRevenue", "currency"),
                _f("NumberOfEmployees", "int"),
                _f("IsPartner", "boolean"),
                _ref("OwnerId", "User", "Owner"),
                _ref("ParentId", "Account", "Parent"),
                _f("Description", "textarea"),
                _f("LastActivityDate", "date"),
                _f("Regions__c", "multipicklist", custom=True),
                _f("Tier__c", "picklist", custom=True),
            ),
        ),
        ObjectDef(
            "Contact",
            "003",
            label_plural="Contacts",
            fields=_system(
                _f("LastName", "string"),
                _f("Name", "string"),
                _ref("AccountId", "Account", "Account"),
                _f("Birthdate", "date"),
            ),
        ),
        ObjectDef(
            "Opportunity",
            "006",
            label_plural="Opportunities",
            fields=_system(
                _f("Name", "string"),
                _ref("AccountId", "Account", "Account"),
                _f("Amount", "currency"),
                _f("StageName", "picklist"),
                _f("CloseDate", "date"),
                _f("Probability", "percent"),
                _f("IsWon", "boolean"),
                _ref("OwnerId", "User", "Owner"),
            ),
        ),
        ObjectDef(
            "Deal_Registration__c",
            "a01",
            custom=True,
            label_plural="Deal Registrations",
            fields=_system(
                _f("Name", "string"),
                _ref("Partner__c", "Account", "Partner__r", custom=True),
                _ref("Opportunity__c", "Opportunity", "Opportunity__r", custom=True),
                _f("Status__c", "picklist", custom=True),
                _f("Amount__c", "currency", custom=True),
            ),
        ),
    ]
    return {d.name: d for d in defs}


def _ts(text: str) -> str:
    return text + "+0000"


USERS = [
    # n, Name, IsActive, Manager
    (1, "Alice Admin", True, None),
    (2, "Bob Builder", True, "U1"),
    (3, "Carol Closer", True, "U2"),
    (4, "Dan Dormant", False, "U2"),
]

ACCOUNTS: list[dict[str, Any]] = [
    dict(n=1, Name="Acme Corp", Type="Partner", Industry="Technology", AnnualRevenue=1_000_000.0,
         NumberOfEmployees=50, IsPartner=True, Owner="U1", Parent=None, Regions__c="EMEA;APAC",
         Tier__c="Gold", Description="Main partner\nline2", CreatedDate="2026-01-10T08:00:00.000",
         SystemModstamp="2026-11-20T10:00:00.000", LastActivityDate="2026-11-21"),
    dict(n=2, Name="acme subsidiary", Type="Customer", Industry="Technology",
         AnnualRevenue=250_000.0, NumberOfEmployees=10, IsPartner=False, Owner="U2", Parent="A1",
         Regions__c="EMEA", Tier__c="Silver", Description=None,
         CreatedDate="2026-03-05T12:30:00.000", SystemModstamp="2026-11-21T09:15:30.123",
         LastActivityDate="2026-10-15"),
    dict(n=3, Name="Globex", Type="Partner", Industry="Manufacturing", AnnualRevenue=5_000_000.0,
         NumberOfEmployees=1200, IsPartner=True, Owner="U2", Parent=None, Regions__c="AMER",
         Tier__c="Gold", Description="100% committed", CreatedDate="2025-07-01T00:00:00.000",
         SystemModstamp="2026-11-22T08:00:00.000", LastActivityDate=None),
    dict(n=4, Name="Initech", Type="Prospect", Industry=None, AnnualRevenue=None,
         NumberOfEmployees=None, IsPartner=False, Owner="U3", Parent="A3", Regions__c=None,
         Tier__c=None, Description="under_score", CreatedDate="2026-11-22T00:00:00.000",
         SystemModstamp="2026-11-22T10:16:09.000", LastActivityDate="2026-11-22"),
    dict(n=5, Name="O'Reilly Media", Type="Customer", Industry="Publishing",
         AnnualRevenue=750_000.0, NumberOfEmployees=300, IsPartner=False, Owner="U3",
         Parent=None, Regions__c="APAC", Tier__c="Bronze", Description='Say "hi"',
         CreatedDate="2024-02-29T15:45:00.000", SystemModstamp="2026-06-01T00:00:00.000",
         LastActivityDate="2026-06-01"),
    dict(n=6, Name="Umbrella", Type="Partner", Industry="Healthcare", AnnualRevenue=2_000_000.0,
         NumberOfEmployees=800, IsPartner=True, Owner="U4", Parent="A3",
         Regions__c="AMER;EMEA;APAC", Tier__c="Platinum", Description="back\\slash",
         CreatedDate="2026-11-21T23:59:59.999", SystemModstamp="2026-11-21T23:59:59.999",
         LastActivityDate="2026-11-01"),
    dict(n=7, Name="Stark Industries", Type="Customer", Industry="Manufacturing",
         AnnualRevenue=9_000_000.0, NumberOfEmployees=5000, IsPartner=False, Owner="U1",
         Parent=None, Regions__c=None, Tier__c="Gold", Description=None,
         CreatedDate="2026-11-15T10:00:00.000", SystemModstamp="2026-11-15T10:00:00.000",
         LastActivityDate="2026-11-15"),
    dict(n=8, Name="Wayne Enterprises", Type=None, Industry="Finance", AnnualRevenue=0.0,
         NumberOfEmployees=0, IsPartner=False, Owner=None, Parent="A7", Regions__c="EMEA",
         Tier__c=None, Description="tab\there", CreatedDate="2026-10-31T23:00:00.000",
         SystemModstamp="2026-11-01T01:00:00.000", LastActivityDate=None),
    dict(n=9, Name="ACME Labs", Type="Partner", Industry="Technology", AnnualRevenue=120_000.5,
         NumberOfEmployees=25, IsPartner=True, Owner="U2", Parent="A1", Regions__c="APAC",
         Tier__c="Silver", Description="Über partner", CreatedDate="2026-09-30T22:00:00.000",
         SystemModstamp="2026-11-22T10:16:09.500", LastActivityDate="2026-09-30"),
    dict(n=10, Name="Zeta_Corp", Type="Prospect", Industry="Finance", AnnualRevenue=-500.0,
         NumberOfEmployees=3, IsPartner=False, Owner="U1", Parent=None, Regions__c=None,
         Tier__c=None, Description=None, CreatedDate="2026-11-22T10:16:09.123",
         SystemModstamp="2026-11-22T10:16:09.123", LastActivityDate="2026-11-23"),
    dict(n=11, Name="Deleted Co", Type="Customer", Industry="Finance", AnnualRevenue=1.0,
         NumberOfEmployees=1, IsPartner=False, Owner="U1", Parent=None, Regions__c=None,
         Tier__c=None, Description=None, CreatedDate="2026-05-05T00:00:00.000",
         SystemModstamp="2026-11-22T09:00:00.000", LastActivityDate=None, IsDeleted=True),
]  # fmt: skip

OPPORTUNITIES = [
    # n, Name, Account, Amount, Stage, CloseDate, Probability, IsWon, Owner, IsDeleted
    (1, "Acme Big Deal", "A1", 500_000.0, "Closed Won", "2026-11-20", 100.0, True, "U1", False),
    (2, "Acme Renewal", "A1", 100_000.0, "Prospecting", "2026-12-15", 10.0, False, "U2", False),
    (3, "Globex Expansion", "A3", 750_000.0, "Negotiation", "2027-01-10", 60.0, False, "U2", False),
    (4, "Globex Pilot", "A3", None, "Closed Lost", "2026-08-01", 0.0, False, "U3", False),
    (5, "Umbrella Vaccine", "A6", 2_000_000.0, "Closed Won", "2026-11-22", 100.0, True, "U4", False),
    (6, "Stark Armor", "A7", 50_000.0, "Prospecting", "2026-11-30", 20.0, False, "U1", False),
    (7, "Orphan Deal", None, 1000.0, "Prospecting", "2026-11-25", 10.0, False, "U3", False),
    (8, "Deleted Opp", "A1", 999.0, "Prospecting", "2026-11-22", 10.0, False, "U1", True),
]  # fmt: skip

DEALS = [
    # n, Name, Partner, Opportunity, Status, Amount
    (1, "DR-1", "A1", "O1", "Approved", 500_000.0),
    (2, "DR-2", "A1", "O2", "Submitted", 100_000.0),
    (3, "DR-3", "A9", None, "Rejected", 0.0),
    (4, "DR-4", "A6", "O5", "Approved", 2_000_000.0),
]

# Contacts are date probes: Birthdate on each day below (one null), CreatedDate at the start
# (even index) or the last millisecond (odd index) of that day.
PROBE_DAYS = [
    "2024-01-01", "2025-06-15", "2025-12-31", "2026-04-01", "2026-07-01", "2026-08-23",
    "2026-08-24", "2026-09-30", "2026-10-01", "2026-11-01", "2026-11-08", "2026-11-15",
    "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-28", "2026-11-29", "2026-12-01",
    "2026-12-12", "2026-12-13", "2027-01-01", "2027-02-20", "2027-02-21", "2027-06-30",
    "2028-12-31", "2029-01-01", None,
]  # fmt: skip
CONTACT_ACCOUNTS = ["A1", "A3", "A6", None]


def contact_rows() -> list[dict[str, Any]]:
    rows = []
    for i, day in enumerate(PROBE_DAYS, start=1):
        created = (
            None if day is None else _ts(day + ("T00:00:00.000" if i % 2 == 0 else "T23:59:59.999"))
        )
        account = CONTACT_ACCOUNTS[i % 4]
        rows.append(
            {
                "Id": short(f"C{i}"),
                "IsDeleted": False,
                "LastName": f"Probe{i:02d}",
                "Name": f"Probe{i:02d}",
                "AccountId": short(account) if account else None,
                "Birthdate": day,
                "CreatedDate": created or "2020-01-01T00:00:00.000+0000",
                "SystemModstamp": created or "2020-01-01T00:00:00.000+0000",
            }
        )
    return rows


def build_rows() -> dict[str, list[dict[str, Any]]]:
    users = [
        {
            "Id": short(f"U{n}"),
            "IsDeleted": False,
            "Name": name,
            "Email": f"{name.split()[0].lower()}@example.com",
            "IsActive": active,
            "ManagerId": short(mgr) if mgr else None,
            "CreatedDate": "2025-01-01T00:00:00.000+0000",
            "SystemModstamp": "2025-01-01T00:00:00.000+0000",
        }
        for n, name, active, mgr in USERS
    ]
    accounts = []
    for spec in ACCOUNTS:
        row = {k: v for k, v in spec.items() if k not in ("n", "Owner", "Parent")}
        row["Id"] = short(f"A{spec['n']}")
        row["IsDeleted"] = spec.get("IsDeleted", False)
        row["OwnerId"] = short(spec["Owner"]) if spec["Owner"] else None
        row["ParentId"] = short(spec["Parent"]) if spec["Parent"] else None
        row["CreatedDate"] = _ts(spec["CreatedDate"])
        row["SystemModstamp"] = _ts(spec["SystemModstamp"])
        accounts.append(row)
    opportunities = [
        {
            "Id": short(f"O{n}"),
            "IsDeleted": deleted,
            "Name": name,
            "AccountId": short(acc) if acc else None,
            "Amount": amount,
            "StageName": stage,
            "CloseDate": close,
            "Probability": prob,
            "IsWon": won,
            "OwnerId": short(owner),
            "CreatedDate": "2026-01-01T00:00:00.000+0000",
            "SystemModstamp": "2026-11-01T00:00:00.000+0000",
        }
        for n, name, acc, amount, stage, close, prob, won, owner, deleted in OPPORTUNITIES
    ]
    deals = [
        {
            "Id": short(f"D{n}"),
            "IsDeleted": False,
            "Name": name,
            "Partner__c": short(partner),
            "Opportunity__c": short(opp) if opp else None,
            "Status__c": status,
            "Amount__c": amount,
            "CreatedDate": "2026-02-01T00:00:00.000+0000",
            "SystemModstamp": "2026-02-01T00:00:00.000+0000",
        }
        for n, name, partner, opp, status, amount in DEALS
    ]
    return {
        "User": users,
        "Account": accounts,
        "Contact": contact_rows(),
        "Opportunity": opportunities,
        "Deal_Registration__c": deals,
    }


class MemorySource:
    """A DataSource (with ``objects()``) over plain lists of dicts."""

    def __init__(self, defs: dict[str, ObjectDef], rows: dict[str, list[dict[str, Any]]]) -> None:
        self.defs = defs
        self.lower = {k.lower(): v for k, v in defs.items()}
        self.rows = rows
        self.by_id = {r["Id"]: r for table in rows.values() for r in table}
        self.prefix = {d.key_prefix: d.name for d in defs.values()}

    def describe(self, sobject: str) -> ObjectDef | None:
        return self.lower.get(sobject.lower())

    def records(self, sobject: str, include_deleted: bool) -> Iterable[dict[str, Any]]:
        rows = self.rows.get(self.lower[sobject.lower()].name, [])
        return rows if include_deleted else [r for r in rows if not r.get("IsDeleted")]

    def get(self, record_id: str) -> dict[str, Any] | None:
        return self.by_id.get(record_id)

    def sobject_of(self, record_id: str) -> str | None:
        return self.prefix.get(record_id[:3])

    def objects(self) -> Iterable[str]:
        return list(self.defs)


def synthetic(n: int) -> MemorySource:
    """``n`` Accounts with SystemModstamps one second apart (some repeated) for perf tests."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        stamp = start + timedelta(seconds=(i * 7919) % n)
        rows.append(
            {
                "Id": rid("001", i + 1),
                "IsDeleted": False,
                "Name": f"Account {i}",
                "SystemModstamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "CreatedDate": "2026-01-01T00:00:00.000+0000",
            }
        )
    return MemorySource(object_defs(), {"Account": rows})


__all__ = [
    "NOW",
    "PROBE_DAYS",
    "MemorySource",
    "build_rows",
    "object_defs",
    "rid",
    "short",
    "synthetic",
]
