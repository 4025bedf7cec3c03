# ruff: noqa: E501  (table rows read best one per line)
"""The table of SOQL queries run against the fixed org in ``conftest`` (also fed to the
soql-parser-js cross-check). Expected ids use short names: A3 is Account 3, O5 Opportunity 5."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from soqldata import PROBE_DAYS


@dataclass(frozen=True)
class Ids:
    """The query's records' Ids, in this order."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Rows:
    """Aggregate rows (without ``attributes``)."""

    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Count:
    """``SELECT COUNT()``: total_size, no records."""

    n: int


@dataclass(frozen=True)
class Err:
    code: str
    fragment: str
    syntax: bool = False  # a pure syntax error: soql-parser-js must reject it too


def ids(text: str) -> Ids:
    return Ids(tuple(text.split()))


ALL_ACCOUNTS = "A1 A2 A3 A4 A5 A6 A7 A8 A9 A10"
BY_NAME = "A1 A9 A2 A3 A4 A5 A7 A6 A8 A10"
A = "SELECT Id FROM Account WHERE "

CASES: list[tuple[str, Ids | Rows | Count | Err]] = [
    ("SELECT Id FROM Account", ids(ALL_ACCOUNTS)),
    ("select id from account", ids(ALL_ACCOUNTS)),
    ("sElEcT Id, Name fRoM Account wHeRe Name = 'Globex' oRdEr bY Name", ids("A3")),
    (A + "Name = 'Globex'", ids("A3")),
    (A + "Name = 'GLOBEX'", ids("A3")),
    (A + "Name != 'Globex'", ids("A1 A2 A4 A5 A6 A7 A8 A9 A10")),
    (A + "Name <> 'Globex'", ids("A1 A2 A4 A5 A6 A7 A8 A9 A10")),
    (A + "Name LIKE 'acme%'", ids("A1 A2 A9")),
    (A + "Name LIKE '%CORP'", ids("A1 A10")),
    (A + "Name LIKE 'Zeta\\_Corp'", ids("A10")),
    (A + "Name LIKE 'Zeta_Corp'", ids("A10")),
    (A + "Name LIKE '_lobex'", ids("A3")),
    (A + "Name LIKE 'Globe'", ids("")),
    (A + "Description LIKE '%\\%%'", ids("A3")),
    (A + "Description LIKE 'under\\_score'", ids("A4")),
    (A + "Description LIKE 'under_score'", ids("A4")),
    (A + "Description LIKE '%\\\\%'", ids("A6")),
    (A + "Description LIKE 'main%'", ids("A1")),
    (A + "Name = 'O\\'Reilly Media'", ids("A5")),
    (A + "Description = 'Say \\\"hi\\\"'", ids("A5")),
    (A + "Description = 'tab\\there'", ids("A8")),
    (A + "Description = 'Main partner\\nline2'", ids("A1")),
    (A + "Description = '\\u00dcber partner'", ids("A9")),
    (A + "Description = 'back\\\\slash'", ids("A6")),
    (A + "Description = null", ids("A2 A7 A10")),
    (A + "Description != null", ids("A1 A3 A4 A5 A6 A8 A9")),
    (A + "Industry = NULL", ids("A4")),
    (A + "AnnualRevenue > 1000000", ids("A3 A6 A7")),
    (A + "AnnualRevenue >= 1000000", ids("A1 A3 A6 A7")),
    (A + "AnnualRevenue < 0", ids("A10")),
    (A + "AnnualRevenue <= 0", ids("A8 A10")),
    (A + "AnnualRevenue = 120000.5", ids("A9")),
    (A + "AnnualRevenue > -1e3", ids("A1 A2 A3 A5 A6 A7 A8 A9 A10")),
    (A + "AnnualRevenue = 1.2e5", ids("")),
    (A + "AnnualRevenue < null", ids("")),
    (A + "NumberOfEmployees > 100", ids("A3 A5 A6 A7")),
    (A + "NumberOfEmployees < 10", ids("A8 A10")),
    (A + "NumberOfEmployees = 50", ids("A1")),
    (A + "NumberOfEmployees IN (0, 3, 50)", ids("A1 A8 A10")),
    (A + "AnnualRevenue IN (0, 250000)", ids("A2 A8")),
    (A + "AnnualRevenue != null AND AnnualRevenue < 300000", ids("A2 A8 A9 A10")),
    (A + "AnnualRevenue > 1000000.0 AND AnnualRevenue < 5e6", ids("A6")),
    (A + "IsPartner = true", ids("A1 A3 A6 A9")),
    (A + "IsPartner = FALSE", ids("A2 A4 A5 A7 A8 A10")),
    (A + "IsPartner = True AND Type = 'Partner'", ids("A1 A3 A6 A9")),
    (A + "NOT IsPartner = true", ids("A2 A4 A5 A7 A8 A10")),
    # precedence: NOT > AND > OR
    (A + "Type = 'Partner' OR Type = 'Customer' AND Industry = 'Technology'", ids("A1 A2 A3 A6 A9")),
    (A + "(Type = 'Partner' OR Type = 'Customer') AND Industry = 'Technology'", ids("A1 A2 A9")),
    (A + "Industry = 'Technology' AND Type = 'Customer' OR Type = 'Partner'", ids("A1 A2 A3 A6 A9")),
    (A + "NOT Type = 'Partner' AND Industry = 'Finance'", ids("A8 A10")),
    (A + "NOT (Type = 'Partner' OR Industry = 'Finance')", ids("A2 A4 A5 A7")),
    (A + "NOT NOT Name = 'Globex'", ids("A3")),
    (A + "(((Name = 'Globex')))", ids("A3")),
    (A + "Name IN ('Globex') OR (NOT IsPartner = false AND Type = 'Partner' AND Name LIKE 'U%')",
     ids("A3 A6")),
    (A + "Type != 'Partner'", ids("A2 A4 A5 A7 A8 A10")),
    (A + "Type IN ('Partner', 'Prospect')", ids("A1 A3 A4 A6 A9 A10")),
    (A + "Type NOT IN ('Partner', 'Prospect')", ids("A2 A5 A7 A8")),
    (A + "NOT Type IN ('Partner', 'Prospect')", ids("A2 A5 A7 A8")),
    (A + "Type IN ('partner')", ids("A1 A3 A6 A9")),
    (A + "Type IN ('Customer', null)", ids("A2 A5 A7 A8")),
    (A + "Tier__c = 'gold'", ids("A1 A3 A7")),
    (A + "tier__C != 'Gold' AND Tier__c != null", ids("A2 A5 A6 A9")),
    (A + "Name > 'w'", ids("A8 A10")),
    (A + "Name < 'B'", ids("A1 A2 A9")),
    (A + "Regions__c INCLUDES ('EMEA')", ids("A1 A2 A6 A8")),
    (A + "Regions__c INCLUDES ('AMER;APAC')", ids("A6")),
    (A + "Regions__c INCLUDES ('AMER', 'APAC')", ids("A1 A3 A5 A6 A9")),
    (A + "Regions__c EXCLUDES ('EMEA')", ids("A3 A4 A5 A7 A9 A10")),
    (A + "Regions__c = 'EMEA'", ids("A2 A8")),
    # ids: 15 or 18 characters
    (A + "Id = '001000000000003AAA'", ids("A3")),
    (A + "Id = '001000000000003'", ids("A3")),
    (A + "Id IN ('001000000000003', '001000000000005AAA')", ids("A3 A5")),
    (A + "Id != '001000000000003'", ids("A1 A2 A4 A5 A6 A7 A8 A9 A10")),
    (A + "OwnerId = '005000000000002'", ids("A2 A3 A9")),
    (A + "OwnerId = null", ids("A8")),
    (A + "ParentId != null", ids("A2 A4 A6 A8 A9")),
    # parent paths
    (A + "Owner.Name = 'Bob Builder'", ids("A2 A3 A9")),
    (A + "Owner.Manager.Name = 'Alice Admin'", ids("A2 A3 A9")),
    (A + "Owner.Manager.Name = 'Bob Builder'", ids("A4 A5 A6")),
    (A + "Parent.Name LIKE 'Glob%'", ids("A4 A6")),
    (A + "Parent.Owner.Name = 'Alice Admin'", ids("A2 A8 A9")),
    (A + "Owner.IsActive = false", ids("A6")),
    (A + "Owner.Name != 'Alice Admin'", ids("A2 A3 A4 A5 A6 A8 A9")),
    (A + "owner.name = 'bob builder'", ids("A2 A3 A9")),
    ("SELECT a.Id FROM Account a WHERE a.Name = 'Globex'", ids("A3")),
    ("SELECT Account.Id FROM Account WHERE Account.Name = 'Umbrella'", ids("A6")),
    ("SELECT Id FROM Account acc WHERE acc.Owner.Name = 'Dan Dormant' ORDER BY acc.Name", ids("A6")),
    # semi-joins and anti-joins
    (A + "Id IN (SELECT AccountId FROM Opportunity)", ids("A1 A3 A6 A7")),
    (A + "Id IN (SELECT AccountId FROM Opportunity WHERE StageName = 'Closed Won')", ids("A1 A6")),
    (A + "Id NOT IN (SELECT AccountId FROM Opportunity)", ids("A2 A4 A5 A8 A9 A10")),
    (A + "Id IN (SELECT Partner__c FROM Deal_Registration__c WHERE Status__c = 'Approved')",
     ids("A1 A6")),
    (A + "Id IN (SELECT AccountId FROM Contact) AND Type = 'Partner'", ids("A1 A3 A6")),
    (A + "OwnerId IN (SELECT Id FROM User WHERE IsActive = false)", ids("A6")),
    (A + "ParentId IN (SELECT Id FROM Account WHERE Name = 'Globex')", ids("A4 A6")),
    # ORDER BY, NULLS FIRST/LAST, LIMIT, OFFSET
    ("SELECT Id FROM Account ORDER BY Name", ids(BY_NAME)),
    ("SELECT Id FROM Account ORDER BY Name ASC", ids(BY_NAME)),
    ("SELECT Id FROM Account ORDER BY Name DESC", ids(" ".join(reversed(BY_NAME.split())))),
    ("SELECT Id FROM Account ORDER BY AnnualRevenue", ids("A4 A10 A8 A9 A2 A5 A1 A6 A3 A7")),
    ("SELECT Id FROM Account ORDER BY AnnualRevenue DESC", ids("A7 A3 A6 A1 A5 A2 A9 A8 A10 A4")),
    ("SELECT Id FROM Account ORDER BY AnnualRevenue NULLS LAST",
     ids("A10 A8 A9 A2 A5 A1 A6 A3 A7 A4")),
    ("SELECT Id FROM Account ORDER BY AnnualRevenue DESC NULLS FIRST",
     ids("A4 A7 A3 A6 A1 A5 A2 A9 A8 A10")),
    ("SELECT Id FROM Account ORDER BY Type, Name", ids("A8 A2 A5 A7 A1 A9 A3 A6 A4 A10")),
    ("SELECT Id FROM Account ORDER BY Type DESC, Name DESC", ids("A10 A4 A6 A3 A9 A1 A7 A5 A2 A8")),
    ("SELECT Id FROM Account ORDER BY Type ASC NULLS LAST, AnnualRevenue DESC",
     ids("A7 A5 A2 A3 A6 A1 A9 A10 A4 A8")),
    ("SELECT Id FROM Account ORDER BY Owner.Name, Name", ids("A8 A1 A7 A10 A9 A2 A3 A4 A5 A6")),
    ("SELECT Id FROM Account ORDER BY SystemModstamp DESC LIMIT 3", ids("A9 A10 A4")),
    ("SELECT Id FROM Account ORDER BY SystemModstamp, Id", ids("A5 A8 A7 A1 A2 A6 A3 A4 A10 A9")),
    ("SELECT Id FROM Account ORDER BY LastActivityDate DESC NULLS LAST, Name",
     ids("A10 A4 A1 A7 A6 A2 A9 A5 A3 A8")),
    ("SELECT Id FROM Account ORDER BY IsPartner DESC, Name", ids("A1 A9 A3 A6 A2 A4 A5 A7 A8 A10")),
    ("SELECT Id FROM Account ORDER BY Name LIMIT 3", ids("A1 A9 A2")),
    ("SELECT Id FROM Account ORDER BY Name LIMIT 3 OFFSET 2", ids("A2 A3 A4")),
    ("SELECT Id FROM Account ORDER BY Name OFFSET 8", ids("A8 A10")),
    ("SELECT Id FROM Account LIMIT 0", ids("")),
    ("SELECT Id FROM Account ORDER BY Name OFFSET 20", ids("")),
    ("SELECT Id FROM Account ORDER BY Name OFFSET 2000", ids("")),
    # datetime literals compared as instants
    (A + "SystemModstamp > 2026-11-22T10:16:09Z", ids("A9 A10")),
    (A + "SystemModstamp >= 2026-11-22T10:16:09Z", ids("A4 A9 A10")),
    (A + "SystemModstamp = 2026-11-22T10:16:09.123Z", ids("A10")),
    (A + "SystemModstamp = 2026-11-22T12:16:09.123+02:00", ids("A10")),
    (A + "SystemModstamp = 2026-11-22T05:16:09.123-05:00", ids("A10")),
    (A + "SystemModstamp > 2026-11-22T10:16:09.123456Z", ids("A9")),
    (A + "SystemModstamp < 2026-11-22T10:16:09.123456Z AND SystemModstamp > 2026-11-22T10:00:00Z",
     ids("A4 A10")),
    (A + "SystemModstamp >= 2026-11-21T00:00:00Z AND SystemModstamp <= 2026-11-22T00:00:00+00:00",
     ids("A2 A6")),
    (A + "SystemModstamp < 2026-11-22T01:00:00+02:00", ids("A1 A2 A5 A7 A8")),
    (A + "CreatedDate = 2026-11-21T23:59:59.999Z", ids("A6")),
    (A + "CreatedDate > 2026-11-21T23:59:59.999999Z", ids("A4 A10")),
    (A + "CreatedDate >= 2026-11-21T23:59:59.9990Z", ids("A4 A6 A10")),
    (A + "CreatedDate = 2026-11-22T00:00:00.000+00:00", ids("A4")),
    (A + "CreatedDate IN (2026-11-22T00:00:00Z, 2026-11-21T18:59:59.999-05:00)", ids("A4 A6")),
    # date fields and relative literals on Account
    (A + "LastActivityDate = 2026-11-22", ids("A4")),
    (A + "LastActivityDate > 2026-11-15", ids("A1 A4 A10")),
    (A + "LastActivityDate <= 2026-10-15", ids("A2 A5 A9")),
    (A + "LastActivityDate = TODAY", ids("A4")),
    (A + "LastActivityDate = yesterday", ids("A1")),
    (A + "LastActivityDate > TODAY", ids("A10")),
    (A + "LastActivityDate < LAST_N_DAYS:7", ids("A2 A5 A6 A9")),
    (A + "LastActivityDate = LAST_N_DAYS:7", ids("A1 A4 A7")),
    (A + "CreatedDate = TODAY", ids("A4 A10")),
    (A + "CreatedDate = YESTERDAY", ids("A6")),
    (A + "CreatedDate < TODAY AND CreatedDate >= LAST_N_DAYS:7", ids("A6 A7")),
    (A + "CreatedDate = THIS_MONTH", ids("A4 A6 A7 A10")),
    (A + "CreatedDate = LAST_MONTH", ids("A8")),
    (A + "CreatedDate = LAST_N_YEARS:1", ids("A3")),
    (A + "CreatedDate < THIS_YEAR", ids("A3 A5")),
    (A + "CreatedDate != THIS_YEAR", ids("A3 A5")),
    (A + "CreatedDate > THIS_QUARTER", ids("")),
    (A + "CreatedDate = THIS_QUARTER", ids("A4 A6 A7 A8 A10")),
    (A + "IsDeleted = true", ids("")),
    # ignored clauses
    (A + "Name = 'Globex' FOR VIEW", ids("A3")),
    (A + "Name = 'Globex' FOR REFERENCE", ids("A3")),
    (A + "Name = 'Globex' LIMIT 1 FOR UPDATE", ids("A3")),
    (A + "Name = 'Globex' WITH SECURITY_ENFORCED", ids("A3")),
    ("SELECT Id FROM Account USING SCOPE Everything WHERE Name = 'Globex'", ids("A3")),
    # other objects
    ("SELECT Id FROM Opportunity", ids("O1 O2 O3 O4 O5 O6 O7")),
    ("SELECT Id FROM Opportunity WHERE Account.Name = 'Acme Corp'", ids("O1 O2")),
    ("SELECT Id FROM Opportunity WHERE AccountId = null", ids("O7")),
    ("SELECT Id FROM Opportunity WHERE Account.Type = 'Partner' ORDER BY Amount DESC",
     ids("O5 O3 O1 O2 O4")),
    ("SELECT Id FROM Opportunity WHERE CloseDate = THIS_WEEK", ids("O5 O7")),
    ("SELECT Id FROM Opportunity WHERE CloseDate = NEXT_N_DAYS:8", ids("O6 O7")),
    ("SELECT Id FROM Opportunity WHERE Probability >= 50 AND IsWon = false", ids("O3")),
    ("SELECT Id FROM Opportunity WHERE Amount = null", ids("O4")),
    ("SELECT Id FROM Opportunity WHERE Owner.Manager.Manager.Name = 'Alice Admin'",
     ids("O4 O5 O7")),
    ("SELECT Id FROM Opportunity WHERE Account.Parent.Name = 'Globex'", ids("O5")),
    ("SELECT Id FROM Opportunity WHERE Account.Owner.Name LIKE 'a%'", ids("O1 O2 O6")),
    ("SELECT Id FROM Opportunity WHERE StageName LIKE 'closed%' ORDER BY CloseDate",
     ids("O4 O1 O5")),
    ("SELECT Id FROM Opportunity WHERE Account.Parent.Owner.Manager.Name = 'Alice Admin'",
     ids("O5")),
    ("SELECT Id FROM Opportunity WHERE Account.Parent.Owner.Manager.Manager.Name = null",
     ids("O1 O2 O3 O4 O5 O6 O7")),
    ("SELECT Id FROM Opportunity WHERE Account.Parent.Owner.Manager.Manager.Manager.Name = null",
     Err("MALFORMED_QUERY", "cannot query more than 5 levels")),
    ("SELECT Id FROM Deal_Registration__c WHERE Partner__r.Name = 'Acme Corp'", ids("D1 D2")),
    ("SELECT Id FROM Deal_Registration__c WHERE Opportunity__r.Account.Name = 'Umbrella'",
     ids("D4")),
    ("SELECT Id FROM Deal_Registration__c WHERE Opportunity__c = null", ids("D3")),
    ("SELECT Id FROM deal_registration__c WHERE status__c = 'approved'", ids("D1 D4")),
    ("SELECT Id FROM Deal_Registration__c WHERE Partner__r.Owner.Manager.Name = 'Alice Admin'",
     ids("D3")),
    ("SELECT Id FROM User WHERE Manager.Name = 'Bob Builder'", ids("U3 U4")),
    ("SELECT Id FROM User WHERE ManagerId = null", ids("U1")),
    ("SELECT Id FROM User WHERE Id IN (SELECT OwnerId FROM Opportunity WHERE IsWon = true)",
     ids("U1 U4")),
    ("SELECT Id FROM User WHERE Email LIKE '%@EXAMPLE.com'", ids("U1 U2 U3 U4")),
    # COUNT() and aggregates
    ("SELECT COUNT() FROM Account", Count(10)),
    ("SELECT count() FROM Account WHERE IsPartner = true", Count(4)),
    ("SELECT COUNT() FROM Account LIMIT 3", Count(3)),
    ("SELECT COUNT() FROM Opportunity", Count(7)),
    ("SELECT COUNT(Id) FROM Account", Rows(({"expr0": 10},))),
    ("SELECT COUNT(Industry) FROM Account", Rows(({"expr0": 9},))),
    ("SELECT COUNT_DISTINCT(Industry) FROM Account", Rows(({"expr0": 5},))),
    ("SELECT SUM(AnnualRevenue), MAX(AnnualRevenue), MIN(AnnualRevenue) FROM Account",
     Rows(({"expr0": 18_119_500.5, "expr1": 9_000_000.0, "expr2": -500.0},))),
    ("SELECT AVG(NumberOfEmployees) avg FROM Account", Rows(({"avg": 7388 / 9},))),
    ("SELECT COUNT(Id) n, SUM(NumberOfEmployees) FROM Account", Rows(({"n": 10, "expr0": 7388},))),
    ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry ORDER BY Industry",
     Rows(({"Industry": None, "expr0": 1}, {"Industry": "Finance", "expr0": 2},
           {"Industry": "Healthcare", "expr0": 1}, {"Industry": "Manufacturing", "expr0": 2},
           {"Industry": "Publishing", "expr0": 1}, {"Industry": "Technology", "expr0": 3}))),
    ("SELECT Type, COUNT(Id) cnt FROM Account GROUP BY Type HAVING COUNT(Id) > 2 ORDER BY Type",
     Rows(({"Type": "Customer", "cnt": 3}, {"Type": "Partner", "cnt": 4}))),
    ("SELECT Owner.Name, SUM(AnnualRevenue) total FROM Account WHERE OwnerId != null "
     "GROUP BY Owner.Name ORDER BY Owner.Name",
     Rows(({"Name": "Alice Admin", "total": 9_999_500.0},
           {"Name": "Bob Builder", "total": 5_370_000.5},
           {"Name": "Carol Closer", "total": 750_000.0},
           {"Name": "Dan Dormant", "total": 2_000_000.0}))),
    ("SELECT Type, Industry, COUNT(Id) FROM Account WHERE Type = 'Partner' "
     "GROUP BY Type, Industry ORDER BY COUNT(Id) DESC, Industry",
     Rows(({"Type": "Partner", "Industry": "Technology", "expr0": 2},
           {"Type": "Partner", "Industry": "Healthcare", "expr0": 1},
           {"Type": "Partner", "Industry": "Manufacturing", "expr0": 1}))),
    ("SELECT MIN(CreatedDate), MAX(LastActivityDate) FROM Account",
     Rows(({"expr0": "2024-02-29T15:45:00.000+0000", "expr1": "2026-11-23"},))),
    ("SELECT COUNT(Id) FROM Account WHERE Name = 'nope'", Rows(({"expr0": 0},))),
    ("SELECT SUM(AnnualRevenue) FROM Account WHERE Name = 'nope'", Rows(({"expr0": None},))),
    ("SELECT StageName, COUNT(Id), SUM(Amount) FROM Opportunity GROUP BY StageName "
     "ORDER BY StageName",
     Rows(({"StageName": "Closed Lost", "expr0": 1, "expr1": None},
           {"StageName": "Closed Won", "expr0": 2, "expr1": 2_500_000.0},
           {"StageName": "Negotiation", "expr0": 1, "expr1": 750_000.0},
           {"StageName": "Prospecting", "expr0": 3, "expr1": 151_000.0}))),
    ("SELECT Tier__c, COUNT(Id) FROM Account GROUP BY Tier__c HAVING Tier__c != null "
     "ORDER BY COUNT(Id) DESC, Tier__c LIMIT 2",
     Rows(({"Tier__c": "Gold", "expr0": 3}, {"Tier__c": "Silver", "expr0": 2}))),
    ("SELECT Type, MAX(Name) FROM Account GROUP BY Type ORDER BY Type NULLS LAST",
     Rows(({"Type": "Customer", "expr0": "Stark Industries"},
           {"Type": "Partner", "expr0": "Umbrella"},
           {"Type": "Prospect", "expr0": "Zeta_Corp"},
           {"Type": None, "expr0": "Wayne Enterprises"}))),
    ("SELECT COUNT(Id) c, Account.Name FROM Opportunity GROUP BY Account.Name "
     "ORDER BY Account.Name",
     Rows(({"c": 1, "Name": None}, {"c": 2, "Name": "Acme Corp"}, {"c": 2, "Name": "Globex"},
           {"c": 1, "Name": "Stark Industries"}, {"c": 1, "Name": "Umbrella"}))),
    ("SELECT Status__c, SUM(Amount__c) FROM Deal_Registration__c GROUP BY Status__c "
     "HAVING SUM(Amount__c) > 0 ORDER BY SUM(Amount__c) DESC",
     Rows(({"Status__c": "Approved", "expr0": 2_500_000.0},
           {"Status__c": "Submitted", "expr0": 100_000.0}))),
    # errors: unknown names
    ("SELECT Id FROM Foo", Err("INVALID_TYPE", "sObject type 'Foo' is not supported.")),
    ("SELECT Id, Foo FROM Account",
     Err("INVALID_FIELD", "ERROR at Row:1:Column:12\nNo such column 'Foo' on entity 'Account'.")),
    (A + "Bar = 1", Err("INVALID_FIELD", "No such column 'Bar' on entity 'Account'")),
    ("SELECT Foo.Name FROM Account",
     Err("INVALID_FIELD", "Didn't understand relationship 'Foo' in field path.")),
    ("SELECT Owner.Foo FROM Account", Err("INVALID_FIELD", "No such column 'Foo' on entity 'User'")),
    ("SELECT Id FROM Account ORDER BY Nope", Err("INVALID_FIELD", "No such column 'Nope'")),
    ("SELECT Id FROM Opportunity WHERE Account.Foo__r.Name = 'x'",
     Err("INVALID_FIELD", "Didn't understand relationship 'Foo__r'")),
    ("SELECT Id, (SELECT Id FROM Nopes) FROM Account",
     Err("INVALID_TYPE", "Didn't understand relationship 'Nopes' in FROM part of query call")),
    (A + "Id IN (SELECT Nope FROM Opportunity)",
     Err("INVALID_FIELD", "No such column 'Nope' on entity 'Opportunity'")),
    (A + "OwnerId IN (SELECT Name FROM User)", Err("INVALID_FIELD", "must point to the same")),
    # errors: syntax
    (A.rstrip(), Err("MALFORMED_QUERY", "unexpected token: '<EOF>'", syntax=True)),
    ("SELECT FROM Account", Err("MALFORMED_QUERY", "unexpected token: 'FROM'", syntax=True)),
    ("SELECT Id Account", Err("MALFORMED_QUERY", "unexpected token: '<EOF>'", syntax=True)),
    (A + "Name =", Err("MALFORMED_QUERY", "unexpected token: '<EOF>'", syntax=True)),
    (A + "Name == 'x'", Err("MALFORMED_QUERY", "unexpected token: '='", syntax=True)),
    ("SELECT Id FROM Account LIMIT x", Err("MALFORMED_QUERY", "unexpected token: 'x'", syntax=True)),
    (A + "Name = 'abc", Err("MALFORMED_QUERY", "unexpected token", syntax=True)),
    ("SELECT Id FROM Account ORDER Name", Err("MALFORMED_QUERY", "unexpected token: 'Name'",
                                              syntax=True)),
    (A + "Name = 'x' AND", Err("MALFORMED_QUERY", "unexpected token: '<EOF>'", syntax=True)),
    (A + "(Name = 'x'", Err("MALFORMED_QUERY", "unexpected token: '<EOF>'", syntax=True)),
    ("SELECT Id FROM Account #", Err("MALFORMED_QUERY", "no viable alternative at character '#'",
                                     syntax=True)),
    (A + "Name = 'x' GROUP Name", Err("MALFORMED_QUERY", "unexpected token: 'Name'", syntax=True)),
    ("SELECT Id FROM Account LIMIT 5 LIMIT 5", Err("MALFORMED_QUERY", "unexpected token: 'LIMIT'",
                                                   syntax=True)),
    (A + "CreatedDate = LAST_N_DAYS", Err("MALFORMED_QUERY", "unexpected token")),
    (A + "CreatedDate = THIS_FISCAL_YEAR", Err("MALFORMED_QUERY", "unexpected token")),
    (A + "Name = 'a\\qb'", Err("MALFORMED_QUERY", "Illegal character sequence '\\q'")),
    (A + "CreatedDate = 2026-13-01T00:00:00Z", Err("MALFORMED_QUERY", "Invalid datetime")),
    (A + "LastActivityDate = 2026-02-30", Err("MALFORMED_QUERY", "Invalid date")),
    # errors: types of values
    (A + "CreatedDate > 2026-11-22",
     Err("INVALID_FIELD", "value of filter criterion for field 'CreatedDate' must be of type "
         "dateTime and should not be enclosed in quotes")),
    (A + "LastActivityDate = 2026-11-22T00:00:00Z",
     Err("INVALID_FIELD", "field 'LastActivityDate' must be of type date and should not")),
    (A + "CreatedDate > '2026-11-22T00:00:00Z'", Err("INVALID_FIELD", "must be of type dateTime")),
    (A + "IsPartner = 'true'", Err("INVALID_FIELD", "must be of type boolean")),
    (A + "Name = 5", Err("INVALID_FIELD", "must be of type string and should be enclosed in quotes")),
    (A + "AnnualRevenue = '5'", Err("INVALID_FIELD", "must be of type double")),
    (A + "Id = 'abc'", Err("INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc")),
    (A + "Name LIKE 5", Err("INVALID_FIELD", "must be of type string")),
    (A + "NumberOfEmployees LIKE '5'", Err("INVALID_FIELD", "invalid operator on field")),
    (A + "Name INCLUDES ('x')", Err("INVALID_FIELD", "invalid operator on field 'Name'")),
    # errors: select list
    ("SELECT Id, Name, Name FROM Account", Err("MALFORMED_QUERY", "duplicate field selected: Name")),
    ("SELECT Name, COUNT(Id) FROM Account",
     Err("MALFORMED_QUERY", "Field must be grouped or aggregated: Name")),
    ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry ORDER BY Name",
     Err("MALFORMED_QUERY", "Ordered field must be grouped or aggregated: Name")),
    ("SELECT SUM(Name) FROM Account",
     Err("MALFORMED_QUERY", "field Name does not support aggregate operator SUM")),
    ("SELECT Id, COUNT() FROM Account", Err("MALFORMED_QUERY", "COUNT() must be the only element")),
    ("SELECT Id FROM Account OFFSET 2001",
     Err("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")),
    ("SELECT FIELDS(ALL) FROM Account",
     Err("MALFORMED_QUERY", "The SOQL FIELDS function must have a LIMIT of at most 200")),
]  # fmt: skip


# Relative date literals: hand-written [start, end) day ranges for 2026-11-22 (a Sunday).
D = date.fromisoformat
RANGES: dict[str, tuple[str, str]] = {
    "YESTERDAY": ("2026-11-21", "2026-11-22"),
    "TODAY": ("2026-11-22", "2026-11-23"),
    "TOMORROW": ("2026-11-23", "2026-11-24"),
    "LAST_WEEK": ("2026-11-15", "2026-11-22"),
    "THIS_WEEK": ("2026-11-22", "2026-11-29"),
    "NEXT_WEEK": ("2026-11-29", "2026-12-06"),
    "LAST_MONTH": ("2026-10-01", "2026-11-01"),
    "THIS_MONTH": ("2026-11-01", "2026-12-01"),
    "NEXT_MONTH": ("2026-12-01", "2027-01-01"),
    "LAST_90_DAYS": ("2026-08-24", "2026-11-23"),
    "NEXT_90_DAYS": ("2026-11-23", "2027-02-21"),
    "LAST_N_DAYS:7": ("2026-11-15", "2026-11-23"),
    "NEXT_N_DAYS:7": ("2026-11-23", "2026-11-30"),
    "LAST_N_WEEKS:2": ("2026-11-08", "2026-11-22"),
    "NEXT_N_WEEKS:2": ("2026-11-29", "2026-12-13"),
    "LAST_N_MONTHS:2": ("2026-09-01", "2026-11-01"),
    "NEXT_N_MONTHS:2": ("2026-12-01", "2027-02-01"),
    "THIS_QUARTER": ("2026-10-01", "2027-01-01"),
    "LAST_QUARTER": ("2026-07-01", "2026-10-01"),
    "NEXT_QUARTER": ("2027-01-01", "2027-04-01"),
    "LAST_N_QUARTERS:2": ("2026-04-01", "2026-10-01"),
    "NEXT_N_QUARTERS:2": ("2027-01-01", "2027-07-01"),
    "THIS_YEAR": ("2026-01-01", "2027-01-01"),
    "LAST_YEAR": ("2025-01-01", "2026-01-01"),
    "NEXT_YEAR": ("2027-01-01", "2028-01-01"),
    "LAST_N_YEARS:2": ("2024-01-01", "2026-01-01"),
    "NEXT_N_YEARS:2": ("2027-01-01", "2029-01-01"),
}


def _probe_ids(field: str, op: str, lo: str, hi: str) -> Ids:
    out = []
    for i, day in enumerate(PROBE_DAYS, start=1):
        value = day if field == "Birthdate" else (day or "2020-01-01")
        if value is None:
            hit = op == "!="
        else:
            inside = lo <= value < hi
            hit = {
                "=": inside,
                "!=": not inside,
                "<": value < lo,
                "<=": value < hi,
                ">": value >= hi,
                ">=": value >= lo,
            }[op]
        if hit:
            out.append(f"C{i}")
    return Ids(tuple(out))


for _literal, (_lo, _hi) in RANGES.items():
    for _field in ("Birthdate", "CreatedDate"):
        CASES.append(
            (
                f"SELECT Id FROM Contact WHERE {_field} = {_literal}",
                _probe_ids(_field, "=", _lo, _hi),
            )
        )
for _literal in ("TODAY", "THIS_MONTH", "LAST_N_DAYS:7", "NEXT_QUARTER"):
    _lo, _hi = RANGES[_literal]
    for _field in ("Birthdate", "CreatedDate"):
        for _op in ("!=", "<", "<=", ">", ">="):
            CASES.append(
                (
                    f"SELECT Id FROM Contact WHERE {_field} {_op} {_literal}",
                    _probe_ids(_field, _op, _lo, _hi),
                )
            )
