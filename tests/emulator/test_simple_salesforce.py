"""simple-salesforce 1.12, unmodified, against the emulator over HTTPS."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from connector.emulator.testing import EmulatorHandle

from prmfixtures import sf_client


def _token(emu: EmulatorHandle, **data: str) -> requests.Response:
    return requests.post(
        f"{emu.login_url}/services/oauth2/token", data=data, verify=emu.ca_bundle, timeout=30
    )


def test_oauth_password_refresh_and_client_credentials_flows(emu: EmulatorHandle) -> None:
    """Each grant returns a token, instance_url, identity URL, issued_at and signature."""
    user = emu.users["integration"]
    common = {"client_id": emu.client_id, "client_secret": emu.client_secret}
    ok = _token(
        emu, grant_type="password", username=user["username"], password=user["password"], **common
    )
    assert ok.status_code == 200
    body = ok.json()
    assert body["instance_url"] == emu.instance_url
    assert body["id"].endswith(f"/id/{emu.organization_id}/{user['id']}")
    assert body["issued_at"].isdigit() and body["signature"]
    assert body["access_token"].startswith(emu.organization_id[:15] + "!")
    refreshed = _token(
        emu, grant_type="refresh_token", refresh_token=user["refresh_token"], **common
    )
    assert refreshed.status_code == 200
    cc = _token(emu, grant_type="client_credentials", **common)
    assert cc.status_code == 200
    bad = _token(emu, grant_type="password", username=user["username"], password="nope", **common)
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    assert _token(emu, grant_type="magic").json()["error"] == "unsupported_grant_type"


def _jwt(emu: EmulatorHandle, sub: str, exp_delta: int = 120) -> str:
    with open(emu.jwt_private_key, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), None)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "RS256"}).encode())
    claims = b64(
        json.dumps(
            {
                "iss": emu.client_id,
                "sub": sub,
                "aud": emu.login_url,
                "exp": int(time.time()) + exp_delta,
            }
        ).encode()
    )
    sig = key.sign(f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return f"{head}.{claims}.{b64(sig)}"


def test_jwt_bearer_flow_accepts_a_signed_assertion_and_rejects_an_expired_one(
    emu: EmulatorHandle,
) -> None:
    """The JWT bearer grant verifies the RS256 signature and the expiry."""
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = _token(emu, grant_type=grant, assertion=_jwt(emu, emu.users["admin"]["username"]))
    assert ok.status_code == 200, ok.text
    assert ok.json()["id"].endswith(emu.users["admin"]["id"])
    old = _token(emu, grant_type=grant, assertion=_jwt(emu, emu.users["admin"]["username"], -10))
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"


def test_soap_login_through_simple_salesforce(emu: EmulatorHandle) -> None:
    """SalesforceLogin's SOAP envelope logs in; bad credentials raise its own exception."""
    user = emu.users["admin"]
    session = requests.Session()
    session.verify = emu.ca_bundle
    session_id, instance = SalesforceLogin(
        username=user["username"],
        password=user["password"],
        security_token="",
        scratch_url=emu.login_url,
        session=session,
        sf_version="62.0",
    )
    assert instance == emu.instance_url.removeprefix("https://")
    sf = Salesforce(instance_url=emu.instance_url, session_id=session_id, session=session)
    assert sf.query("SELECT Id FROM User WHERE Id = '" + user["id"] + "'")["totalSize"] == 1
    with pytest.raises(SalesforceAuthenticationFailed) as err:
        SalesforceLogin(
            username=user["username"],
            password="wrong",
            security_token="",
            scratch_url=emu.login_url,
            session=session,
        )
    assert "INVALID_LOGIN" in str(err.value)


def test_query_all_iter_pages_over_every_opportunity(sf: Salesforce, emu: EmulatorHandle) -> None:
    """query_all_iter follows nextRecordsUrl pages and yields exactly the org's rows."""
    assert emu.org is not None
    expected = {r["Id"] for r in emu.org.store["Opportunity"].values() if not r["IsDeleted"]}
    assert len(expected) > 5000
    got = [r["Id"] for r in sf.query_all_iter("SELECT Id, Name, Amount FROM Opportunity")]
    assert len(got) == len(expected) and set(got) == expected
    count = sf.query("SELECT COUNT() FROM Opportunity")
    assert count["totalSize"] == len(expected) and count["records"] == []


def test_crud_upsert_and_errors(sf: Salesforce, emu: EmulatorHandle) -> None:
    """create/get/update/delete, upsert by external id (201 then 200), errors as exceptions."""
    created = sf.Account.create({"Name": "Acme Partners"})
    assert created["success"] and len(created["id"]) == 18 and created["id"].startswith("001")
    rec = sf.Account.get(created["id"])
    assert rec["Name"] == "Acme Partners" and rec["attributes"]["type"] == "Account"
    assert rec["SystemModstamp"].endswith("+0000") and rec["IsDeleted"] is False
    assert sf.Account.update(created["id"], {"Website": "https://acme.example"}) == 204
    assert sf.Account.get(created["id"])["Website"] == "https://acme.example"
    assert (
        sf.Partner_Certification__c.upsert(
            "PRM_Key__c/cert-1", {"Name": "Sales Pro", "Partner__c": created["id"]}
        )
        == 201
    )
    assert sf.Partner_Certification__c.upsert("PRM_Key__c/cert-1", {"Name": "Sales Pro 2"}) == 200
    got = sf.query("SELECT Name FROM Partner_Certification__c WHERE PRM_Key__c = 'cert-1'")
    assert [r["Name"] for r in got["records"]] == ["Sales Pro 2"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Nme": "typo"})
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Opportunity.create({"Name": "x"})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as err:
        # As the admin: PRM_Connector_Integration does not let the connector create these.
        sf_client(emu, "admin").Deal_Registration__c.create({"Name": "r", "Status__c": "Maybe"})
    assert err.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])
    deleted = sf.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE Id = '{created['id']}'", include_deleted=True
    )
    assert deleted["records"][0]["IsDeleted"] is True


def test_describe_updated_and_deleted(sf: Salesforce, emu: EmulatorHandle) -> None:
    """describe has real field properties; updated/deleted have their documented shapes."""
    d = sf.Deal_Registration__c.describe()
    fields = {f["name"]: f for f in d["fields"]}
    assert fields["Status__c"]["restrictedPicklist"] is True
    assert fields["Partner__c"]["referenceTo"] == ["Account"]
    assert fields["Id"]["createable"] is False
    start = datetime.now(UTC) - timedelta(minutes=5)
    rid = sf.Account.create({"Name": "Gone Soon"})["id"]
    sf.Account.update(rid, {"Name": "Gone"})
    sf.Account.delete(rid)
    end = datetime.now(UTC) + timedelta(minutes=5)
    upd = sf.Account.updated(start, end)
    assert "latestDateCovered" in upd and isinstance(upd["ids"], list)
    # The answers cover whole minutes up to the present: two minutes on, the delete is in.
    assert emu.org is not None
    emu.org.set_clock(offset_seconds=120)
    try:
        dele = sf.Account.deleted(start, end)
    finally:
        emu.org.set_clock(offset_seconds=0)
    assert rid in [r["id"] for r in dele["deletedRecords"]]
    assert {"earliestDateAvailable", "latestDateCovered"} <= set(dele)


def test_collections_and_api_usage(sf: Salesforce) -> None:
    """composite/sobjects creates 200 in one call, in order; api_usage is parsed."""
    records = [{"attributes": {"type": "Account"}, "Name": f"Bulk {i}"} for i in range(200)]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert len(results) == 200 and all(r["success"] for r in results)
    ids = [r["id"] for r in results]
    names = sf.restful(f"composite/sobjects/Account?ids={','.join(ids[:5])}&fields=Name")
    assert [n["Name"] for n in names] == [f"Bulk {i}" for i in range(5)]
    mixed = [
        {"attributes": {"type": "Account"}, "id": ids[0], "Name": "ok"},
        {"attributes": {"type": "Account"}, "id": ids[1], "Name": "x" * 300},
    ]
    out = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": True, "records": mixed}
    )
    assert out[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert out[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.Account.get(ids[0])["Name"] == "Bulk 0"
    usage = sf.api_usage["api-usage"]
    assert usage.used > 0 and usage.total == 100_000


def test_expired_session_raises_salesforce_expired_session(emu: EmulatorHandle) -> None:
    """Past the session lifetime every call answers 401 INVALID_SESSION_ID."""
    sf = sf_client(emu, "partner", fresh=True)
    sf.query("SELECT Id FROM User LIMIT 1")
    emu.call("POST", "/_emulator/sessions", json={"expire_user": emu.users["partner"]["id"]})
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User LIMIT 1")


def test_faults_are_reproducible_with_a_seed(emu: EmulatorHandle) -> None:
    """The same seed injects the same faults in the same order."""

    def run() -> list[int]:
        emu.faults(rate=0.5, kinds=["SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"], seed=11)
        tok = emu.token("admin")
        codes = [
            requests.get(
                f"{emu.instance_url}/services/data/v62.0/limits",
                headers={"Authorization": f"Bearer {tok}"},
                verify=emu.ca_bundle,
                timeout=30,
            ).status_code
            for _ in range(20)
        ]
        emu.faults(rate=0)
        return codes

    first, second = run(), run()
    assert first == second and {503, 500} & set(first) and 200 in first


def test_saves_in_one_collection_share_a_timestamp_when_the_clock_is_frozen(
    sf: Salesforce, emu: EmulatorHandle
) -> None:
    """Ties are real in Salesforce: a frozen clock gives every save the same SystemModstamp."""
    emu.call("POST", "/_emulator/clock", json={"freeze": True})
    try:
        records = [{"attributes": {"type": "Account"}, "Name": f"Tie {i}"} for i in range(10)]
        ids = [
            r["id"]
            for r in sf.restful("composite/sobjects", method="POST", json={"records": records})
        ]
    finally:
        emu.call("POST", "/_emulator/clock", json={"freeze": False})
    stamps = {sf.Account.get(i)["SystemModstamp"] for i in ids}
    assert len(stamps) == 1
