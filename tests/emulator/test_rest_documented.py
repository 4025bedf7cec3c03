"""REST behaviours a write-back relies on, each checked against the page that documents it.

Every test names its page: the emulator follows Salesforce's documentation, not our guesses.
"""

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


def _req(emu: EmulatorHandle, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method,
        f"{emu.instance_url}{path}",
        headers={"Authorization": f"Bearer {emu.token('integration')}", **kw.pop("headers", {})},
        verify=emu.ca_bundle,
        timeout=60,
        **kw,
    )


def _count(emu: EmulatorHandle, soql: str) -> int:
    resp = _req(emu, "GET", f"{V}/query", params={"q": soql})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["totalSize"])


def test_composite_all_or_none_halts_every_other_subrequest(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/requests-composite.html:
    with allOrNone true "the entire composite request is rolled back"; the subrequests that ran
    before the failure report PROCESSING_HALTED too, not a 201 with an id that does not exist."""
    subs = [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "first",
         "body": {"Name": "Composite Halted One"}},
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "bad",
         "body": {"Nme": "typo"}},
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "after",
         "body": {"Name": "Composite Halted Two"}},
    ]
    resp = _req(emu, "POST", f"{V}/composite", json={"allOrNone": True, "compositeRequest": subs})
    assert resp.status_code == 200
    out = {r["referenceId"]: r for r in resp.json()["compositeResponse"]}
    assert [r["referenceId"] for r in resp.json()["compositeResponse"]] == [
        "first", "bad", "after"]
    assert out["bad"]["httpStatusCode"] == 400
    assert out["bad"]["body"][0]["errorCode"] == "INVALID_FIELD"
    for ref in ("first", "after"):
        assert out[ref]["httpStatusCode"] == 400
        assert out[ref]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert _count(emu, "SELECT Id FROM Account WHERE Name LIKE 'Composite Halted%'") == 0


def test_composite_without_all_or_none_keeps_earlier_work(emu: EmulatorHandle) -> None:
    """Same page: with allOrNone false the subrequests that do not depend on the failure run."""
    subs = [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "ok",
         "body": {"Name": "Composite Kept"}},
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "bad",
         "body": {"Nme": "typo"}},
    ]
    resp = _req(emu, "POST", f"{V}/composite", json={"compositeRequest": subs})
    first, second = resp.json()["compositeResponse"]
    assert first["httpStatusCode"] == 201
    assert first["httpHeaders"]["Location"] == f"{V}/sobjects/Account/{first['body']['id']}"
    assert second["httpStatusCode"] == 400
    assert _count(emu, "SELECT Id FROM Account WHERE Name = 'Composite Kept'") == 1


def test_outer_all_or_none_overrides_a_collections_subrequest(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-allornone.md:
    an outer allOrNone true applies to sObject Collections subrequests, overriding theirs."""
    records = [
        {"attributes": {"type": "Account"}, "Name": "Outer Override A"},
        {"attributes": {"type": "Account"}, "Name": "x" * 300},
    ]
    subs = [{"method": "POST", "url": f"{V}/composite/sobjects", "referenceId": "coll",
             "body": {"allOrNone": False, "records": records}}]
    resp = _req(emu, "POST", f"{V}/composite", json={"allOrNone": True, "compositeRequest": subs})
    body = resp.json()["compositeResponse"][0]["body"]
    assert body[0] == {"success": False, "errors": [
        {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": body[0]["errors"][0][
            "message"], "fields": []}]}
    assert _count(emu, "SELECT Id FROM Account WHERE Name = 'Outer Override A'") == 0


def test_collections_all_or_none_rolled_back_rows_carry_no_id(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-create.html:
    with allOrNone nothing is saved, so a row that would have succeeded has no id to report."""
    records = [
        {"attributes": {"type": "Account"}, "Name": "Rolled Back"},
        {"attributes": {"type": "Account"}, "Name": "x" * 300},
    ]
    resp = _req(emu, "POST", f"{V}/composite/sobjects",
                json={"allOrNone": True, "records": records})
    first, second = resp.json()
    assert "id" not in first and first["success"] is False
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert _count(emu, "SELECT Id FROM Account WHERE Name = 'Rolled Back'") == 0


def test_collections_retrieve_by_post(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-sobjects-collections-retrieve.html:
    POST composite/sobjects/{sObject} with ids and fields in the body; null for a missing id."""
    ids = [r["Id"] for r in _req(emu, "GET", f"{V}/query", params={
        "q": "SELECT Id FROM Account ORDER BY Name LIMIT 3"}).json()["records"]]
    missing = ids[0][:3] + "000000000000AAA"
    resp = _req(emu, "POST", f"{V}/composite/sobjects/Account",
                json={"ids": [*ids, missing], "fields": ["Id", "Name"]})
    assert resp.status_code == 200
    out = resp.json()
    assert [r["Id"] for r in out[:3]] == ids and out[3] is None
    assert set(out[0]) == {"attributes", "Id", "Name"}


def test_upsert_update_only_answers_404_instead_of_creating(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/dome-upsert.html:
    "To prevent a new record from being created, use the updateOnly parameter"."""
    path = f"{V}/sobjects/Partner_Certification__c/PRM_Key__c/update-only-1"
    resp = _req(emu, "PATCH", path, params={"updateOnly": "true"}, json={"Name": "Never"})
    assert resp.status_code == 404 and resp.json()[0]["errorCode"] == "NOT_FOUND"
    assert _count(emu, "SELECT Id FROM Partner_Certification__c "
                       "WHERE PRM_Key__c = 'update-only-1'") == 0
    assert _req(emu, "PATCH", path, json={"Name": "Now"}).status_code == 201
    resp = _req(emu, "PATCH", path, params={"updateOnly": "true"}, json={"Name": "Renamed"})
    assert resp.status_code == 200 and resp.json()["created"] is False


def test_post_to_an_external_id_url_creates(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.244.0.api_asynch.meta/api_asynch/bulk_api_2_0_upsert.htm
    POSTs to sobjects/Account/customExtIdField__c/11999 to create; POST sobjects/X/Id creates
    too (https://developer.salesforce.com/docs/atlas.en-us.238.0.api_rest.meta/api_rest/resources_sobject_upsert_post.htm)."""
    resp = _req(emu, "POST", f"{V}/sobjects/Partner_Certification__c/PRM_Key__c/post-1",
                json={"Name": "Posted"})
    assert resp.status_code == 201 and resp.json()["created"] is True
    got = _req(emu, "GET", f"{V}/sobjects/Partner_Certification__c/PRM_Key__c/post-1").json()
    assert got["Name"] == "Posted" and got["PRM_Key__c"] == "post-1"
    resp = _req(emu, "POST", f"{V}/sobjects/Account/Id", json={"Name": "Posted By Id"})
    assert resp.status_code == 201 and resp.json()["id"].startswith("001")


def test_multiple_matches_answer_300_in_the_request_version(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/resources-sobject-upsert-patch.md:
    several matches answer 300 with the matching records' URLs (in the version called).
    PartnerFundAllocation.Title is an idLookup field (describe says so in real orgs), so it
    can name the records to upsert."""
    budget = _req(emu, "GET", f"{V}/query",
                  params={"q": "SELECT Id FROM PartnerMarketingBudget LIMIT 1"}).json()
    budget_id = budget["records"][0]["Id"]
    ids = sorted(
        _req(emu, "POST", f"{V}/sobjects/PartnerFundAllocation",
             json={"Title": "Twin Fund", "Amount": 10, "BudgetId": budget_id}).json()["id"]
        for _ in range(2)
    )
    resp = _req(emu, "PATCH", "/services/data/v58.0/sobjects/PartnerFundAllocation/Title/Twin Fund",
                json={"Amount": 20})
    assert resp.status_code == 300
    assert sorted(resp.json()) == [
        f"/services/data/v58.0/sobjects/PartnerFundAllocation/{i}" for i in ids]


def test_account_name_is_not_an_upsert_key(emu: EmulatorHandle) -> None:
    """Account.Name is not an idLookup field in real orgs: an upsert naming it is refused as
    an unknown external id field."""
    resp = _req(emu, "PATCH", f"{V}/sobjects/Account/Name/Twin Co", json={"Website": "x.io"})
    assert resp.status_code == 404 and resp.json()[0]["errorCode"] == "NOT_FOUND"


def test_email_fields_are_validated(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm
    lists INVALID_EMAIL_ADDRESS among the StatusCode values: an email field takes an address."""
    resp = _req(emu, "POST", f"{V}/sobjects/Contact",
                json={"LastName": "Bad Mail", "Email": "not an address"})
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
    assert resp.json()[0]["fields"] == ["Email"]
    ok = _req(emu, "POST", f"{V}/sobjects/Contact",
              json={"LastName": "Good Mail", "Email": "ana@example.com"})
    assert ok.status_code == 201


@pytest.mark.parametrize("raw", [b'{"Name": "n", "Amount": NaN}',
                                 b'{"Name": "n", "Amount": Infinity}',
                                 b'{"Name": "n", "Amount": 1e999}'])
def test_nan_and_infinity_are_json_parser_errors(emu: EmulatorHandle, raw: bytes) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm:
    400 when "the JSON or XML body contains an error"; JSON has no NaN or Infinity."""
    resp = _req(emu, "POST", f"{V}/sobjects/Opportunity", data=raw,
                headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    for text in ("NaN", "Infinity", "-Infinity"):
        resp = _req(emu, "POST", f"{V}/sobjects/Opportunity",
                    json={"Name": "n", "StageName": "Prospecting", "CloseDate": "2026-01-01",
                          "Amount": text})
        assert resp.json()[0]["errorCode"] == "JSON_PARSER_ERROR", text


def test_wrong_method_on_a_record_is_405(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm:
    405 "The method specified in the Request-Line isn't allowed for the resource"."""
    rid = _req(emu, "POST", f"{V}/sobjects/Account", json={"Name": "Method Test"}).json()["id"]
    for method in ("POST", "PUT"):
        resp = _req(emu, method, f"{V}/sobjects/Account/{rid}", json={"Name": "x"})
        assert resp.status_code == 405, method
        assert resp.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
        assert resp.headers["Allow"] == "HEAD,GET,PATCH,DELETE"
    assert _req(emu, "DELETE", f"{V}/sobjects/Account/describe").status_code == 405
    assert _req(emu, "HEAD", f"{V}/sobjects/Account/{rid}").status_code == 200
    assert _req(emu, "GET", f"{V}/sobjects/Account/{rid}").json()["Name"] == "Method Test"


def _raw_header_names(emu: EmulatorHandle, method: str, path: str, **kw: Any) -> list[str]:
    """The header names exactly as they came over the wire (urllib3 keeps their case)."""
    resp = _req(emu, method, path, stream=True, **kw)
    names = list(resp.raw.headers.keys())
    resp.close()
    return names


def test_header_names_are_spelled_as_salesforce_sends_them(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
    names Sforce-Limit-Info; Bulk 2.0 query results carry Sforce-Locator and
    Sforce-NumberOfRecords (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_job_results.htm).
    Case matters to clients that keep headers in a plain dict."""
    names = _raw_header_names(emu, "GET", f"{V}/sobjects/Account/describe")
    assert "Content-Type" in names and "Sforce-Limit-Info" in names
    assert all(n[0].isupper() for n in names), names
    job = _req(emu, "POST", f"{V}/jobs/query",
               json={"operation": "query", "query": "SELECT Id FROM Account"}).json()
    for _ in range(200):
        state = _req(emu, "GET", f"{V}/jobs/query/{job['id']}").json()["state"]
        if state == "JobComplete":
            break
    names = _raw_header_names(emu, "GET", f"{V}/jobs/query/{job['id']}/results")
    assert {"Sforce-Locator", "Sforce-NumberOfRecords", "Sforce-Limit-Info",
            "Content-Type"} <= set(names)


def test_injected_faults_carry_the_limit_header(emu: EmulatorHandle) -> None:
    """headers_api_usage.htm (above): the API usage header is in every API response, an
    error answer included."""
    emu.faults(rate=1.0, kinds=["SERVER_UNAVAILABLE"], seed=1)
    try:
        resp = _req(emu, "GET", f"{V}/limits")
    finally:
        emu.faults(rate=0)
    assert resp.status_code == 503
    assert resp.headers["Sforce-Limit-Info"].startswith("api-usage=")
    assert "Sforce-Limit-Info" in list(resp.raw.headers.keys())


def test_query_locators_live_two_days_with_no_cap_on_open_ones() -> None:
    """https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-apicursors.html:
    "Cursors and their related query results are available for 2 days ... There isn't a limit
    on the number of open cursors" (since API 56.0; before, 10 per user and 15 minutes)."""
    from datetime import UTC, datetime, timedelta

    from connector.emulator.cursors import Cursors
    from connector.emulator.errors import ApiError

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    cursors = Cursors(lambda: now[0])
    keys = [cursors.add([{"Id": str(n)}], 1) for n in range(500)]
    assert all(k.startswith("0r8") and len(k) == 18 for k in keys)
    now[0] += timedelta(days=1, hours=23)
    assert [cursors.get(k).records[0]["Id"] for k in keys] == [str(n) for n in range(500)]
    now[0] += timedelta(hours=2)
    with pytest.raises(ApiError) as err:
        cursors.get(keys[0])
    assert err.value.code == "INVALID_QUERY_LOCATOR"
