"""What the Salesforce CLI asks that other clients do not: ``//services/...`` paths (an
instance URL stored with a trailing slash) and ``query?...&columns=true``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from connector.emulator.testing import EmulatorHandle, running_emulator

V = "/services/data/v62.0"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="demo") as handle:
        yield handle


def _get(emu: EmulatorHandle, path: str, **kw: Any) -> requests.Response:
    return requests.get(
        f"{emu.instance_url}{path}",
        headers={"Authorization": f"Bearer {emu.token('integration')}"},
        verify=emu.ca_bundle, timeout=60, **kw,
    )


@pytest.mark.parametrize("path", [
    f"/{V}/sobjects/Account/describe",
    f"/{V}//sobjects//Account/describe",
    "//services/data/",
])
def test_doubled_slashes_are_served_as_single_ones(emu: EmulatorHandle, path: str) -> None:
    plain = _get(emu, "/" + path.replace("//", "/").lstrip("/"))
    doubled = _get(emu, path)
    assert plain.status_code == doubled.status_code == 200
    assert doubled.json() == plain.json()


def test_doubled_slashes_on_a_query_keep_paging(emu: EmulatorHandle) -> None:
    q = {"q": "SELECT Id, Name FROM Account ORDER BY Name"}
    assert _get(emu, f"/{V}/query", params=q).json() == _get(emu, f"{V}/query", params=q).json()


def test_columns_true_answers_column_metadata(emu: EmulatorHandle) -> None:
    resp = _get(emu, f"{V}/query", params={
        "q": "SELECT Id, Name, Partner_Tier__c, Owner.Name FROM Account LIMIT 3",
        "columns": "true",
    })
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert "records" not in body
    assert (body["entityName"], body["keyPrefix"], body["idSelected"], body["groupBy"]) == (
        "Account", "001", True, False)
    cols = body["columnMetadata"]
    assert [c["columnName"] for c in cols] == ["Id", "Name", "Partner_Tier__c", "Owner"]
    keys = {"aggregate", "apexType", "booleanType", "columnName", "custom", "displayName",
            "foreignKeyName", "insertable", "joinColumns", "numberType", "textType", "updatable"}
    assert all(set(c) == keys for c in cols)
    by = {c["columnName"]: c for c in cols}
    assert by["Id"]["apexType"] == "Id" and not by["Id"]["insertable"]
    assert by["Name"]["apexType"] == "String" and by["Name"]["textType"]
    assert by["Name"]["insertable"] and by["Name"]["updatable"] and not by["Name"]["custom"]
    assert by["Partner_Tier__c"]["custom"]
    join = by["Owner"]["joinColumns"]
    assert [j["columnName"] for j in join] == ["Name"] and join[0]["apexType"] == "String"


def test_columns_true_on_an_aggregate_query(emu: EmulatorHandle) -> None:
    body = _get(emu, f"{V}/query", params={
        "q": "SELECT StageName, COUNT(Id) n, SUM(Amount) FROM Opportunity GROUP BY StageName",
        "columns": "true",
    }).json()
    assert body["groupBy"] is True and body["idSelected"] is False
    cols = body["columnMetadata"]
    assert [c["columnName"] for c in cols] == ["StageName", "n", "expr0"]
    assert [c["aggregate"] for c in cols] == [False, True, True]
    assert cols[1]["apexType"] == "Integer" and cols[1]["numberType"]
    assert cols[2]["apexType"] == "Decimal"


def test_columns_true_checks_names_as_a_query_does(emu: EmulatorHandle) -> None:
    resp = _get(emu, f"{V}/query", params={"q": "SELECT Nope__c FROM Account",
                                           "columns": "true"})
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALID_FIELD"
