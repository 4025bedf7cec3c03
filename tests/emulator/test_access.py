"""Field-level security and object permissions for non-admin users, as real orgs apply them.

The integration user holds PRM_Connector_Integration (seeded) on top of the Standard User
profile; the admin sees everything. Without the set, what it granted is gone: absent from
describe, INVALID_FIELD in SOQL, refused in DML; custom objects are unknown (404 on describe,
INVALID_TYPE in SOQL). Permission sets and their assignments are records the admin creates
and deletes through the API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.emulator.testing import EmulatorHandle, running_emulator

V = "/services/data/v62.0"
SET = "PRM_Connector_Integration"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="demo") as handle:
        yield handle


@pytest.fixture
def unassigned(emu: EmulatorHandle) -> Iterator[None]:
    emu.unassign(SET)
    try:
        yield
    finally:
        emu.assign(SET)


def _req(emu: EmulatorHandle, method: str, path: str, user: str = "integration",
         **kw: Any) -> requests.Response:
    return requests.request(method, f"{emu.instance_url}{path}", verify=emu.ca_bundle,
                            headers={"Authorization": f"Bearer {emu.token(user)}"},
                            timeout=60, **kw)


def _fields(emu: EmulatorHandle, sobject: str, user: str = "integration") -> dict[str, Any]:
    resp = _req(emu, "GET", f"{V}/sobjects/{sobject}/describe", user)
    assert resp.status_code == 200, resp.text
    return {f["name"]: f for f in resp.json()["fields"]}


def _query(emu: EmulatorHandle, soql: str, user: str = "integration") -> requests.Response:
    return _req(emu, "GET", f"{V}/query", user, params={"q": soql})


def _partner(emu: EmulatorHandle) -> str:
    rows = _query(emu, "SELECT Id FROM Account WHERE IsPartner = true LIMIT 1").json()
    return str(rows["records"][0]["Id"])


def test_the_integration_user_holds_the_set_and_sees_what_it_grants(emu: EmulatorHandle) -> None:
    assert set(emu.assignments()) == {SET}
    fields = _fields(emu, "Account")
    assert fields["Partner_Tier__c"]["updateable"] and fields["Partner_Status__c"]["updateable"]
    # Read only in the set (direction in): visible, not writable.
    assert not fields["Partner_Type__c"]["updateable"]
    assert not fields["Partner_Type__c"]["createable"]
    assert _query(emu, "SELECT Partner_Tier__c FROM Account LIMIT 1").status_code == 200
    names = [r["Name"] for r in _query(emu, "SELECT Name FROM PermissionSet").json()["records"]]
    assert SET in names


def test_a_read_only_field_is_refused_in_dml(emu: EmulatorHandle) -> None:
    resp = _req(emu, "PATCH", f"{V}/sobjects/Account/{_partner(emu)}",
                json={"Partner_Type__c": "MSP"})
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert resp.json()[0]["fields"] == ["Partner_Type__c"]
    ok = _req(emu, "PATCH", f"{V}/sobjects/Account/{_partner(emu)}", "admin",
              json={"Partner_Type__c": "MSP"})
    assert ok.status_code == 204


def test_object_permissions_refuse_create_and_delete(emu: EmulatorHandle) -> None:
    """The set reads and edits registrations but does not create or delete them."""
    resp = _req(emu, "POST", f"{V}/sobjects/Deal_Registration__c", json={"Name": "r"})
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    rid = _query(emu, "SELECT Id FROM Deal_Registration__c LIMIT 1").json()["records"][0]["Id"]
    resp = _req(emu, "DELETE", f"{V}/sobjects/Deal_Registration__c/{rid}")
    assert resp.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert not _req(emu, "GET", f"{V}/sobjects/Deal_Registration__c/describe").json()[
        "createable"]
    # Only the admin assigns permission sets.
    resp = _req(emu, "POST", f"{V}/sobjects/PermissionSetAssignment", json={
        "AssigneeId": emu.users["partner"]["id"], "PermissionSetId": "0PS000000000001AAA"})
    assert resp.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"


@pytest.mark.usefixtures("unassigned")
def test_without_the_set_its_fields_and_objects_are_gone(emu: EmulatorHandle) -> None:
    assert emu.assignments() == {}
    fields = _fields(emu, "Account")
    assert "Partner_Tier__c" not in fields and "Partner_Status__c" not in fields
    assert {"Name", "Website", "Industry", "IsPartner"} <= set(fields)  # the profile's
    resp = _query(emu, "SELECT Id, Partner_Tier__c FROM Account")
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Partner_Tier__c'" in resp.json()[0]["message"]
    resp = _req(emu, "PATCH", f"{V}/sobjects/Account/{_partner(emu)}",
                json={"Partner_Tier__c": "Gold"})
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "INVALID_FIELD"
    record = _req(emu, "GET", f"{V}/sobjects/Account/{_partner(emu)}").json()
    assert "Partner_Tier__c" not in record and "Name" in record
    assert _req(emu, "GET", f"{V}/sobjects/Deal_Registration__c/describe").status_code == 404
    resp = _query(emu, "SELECT Id FROM Deal_Registration__c")
    assert resp.json()[0]["errorCode"] == "INVALID_TYPE"
    names = {o["name"] for o in _req(emu, "GET", f"{V}/sobjects").json()["sobjects"]}
    assert "Account" in names and "Deal_Registration__c" not in names
    # Collections report the refusal per record.
    out = _req(emu, "PATCH", f"{V}/composite/sobjects", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Account"}, "Id": _partner(emu), "Partner_Tier__c": "Gold"}]})
    assert out.json()[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
    # The admin still sees everything.
    assert "Partner_Tier__c" in _fields(emu, "Account", "admin")
    assert _query(emu, "SELECT Partner_Tier__c FROM Account", "admin").status_code == 200


def test_reassigning_the_set_restores_access(emu: EmulatorHandle) -> None:
    emu.unassign(SET)
    assert "Partner_Tier__c" not in _fields(emu, "Account")
    emu.assign(SET)
    with pytest.raises(requests.HTTPError) as again:  # a user holds a set once
        emu.assign(SET)
    assert again.value.response.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    assert "Partner_Tier__c" in _fields(emu, "Account")
    assert _query(emu, "SELECT Id FROM Deal_Registration__c LIMIT 1").status_code == 200


def test_bulk_query_honours_field_level_security(emu: EmulatorHandle,
                                                  unassigned: None) -> None:
    resp = _req(emu, "POST", f"{V}/jobs/query", json={
        "operation": "query", "query": "SELECT Id, Partner_Tier__c FROM Account"})
    assert resp.status_code == 200, resp.text
    job = resp.json()["id"]
    for _ in range(200):
        state = _req(emu, "GET", f"{V}/jobs/query/{job}").json()
        if state["state"] in ("JobComplete", "Failed"):
            break
        time.sleep(0.05)
    assert state["state"] == "Failed" and "Partner_Tier__c" in state["errorMessage"]


def test_a_state_saved_before_permission_sets_gets_them_on_load(tmp_path: Path) -> None:
    """An org saved by an older emulator (no PermissionSet rows) loads with the integration
    user holding the set, so a kept demo org keeps working."""
    from connector.emulator.org import Org

    old = Org(seed="demo", state_dir=tmp_path)
    old.store["PermissionSet"].clear()
    old.store["PermissionSetAssignment"].clear()
    old.save()
    org = Org(seed="demo", state_dir=tmp_path)
    user = org.users["integration"].id
    assert org._assignments() == {user: frozenset({SET})}
    view = org.access.view(user)
    assert view is not None and view.describe("Deal_Registration__c") is not None
