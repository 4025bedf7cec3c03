"""Bulk API 2.0: query CSV typed like REST, paged by Sforce-Locator; ingest results in order."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sf_fakes import API, Sleeps

from connector.salesforce import BadRequest, ErrorAction, QueryTimeout, SalesforceClient
from connector.salesforce.bulk import parse_bulk_error, to_csv

JOBS = API + "jobs/query"
INGEST = API + "jobs/ingest"
DESCRIBE = {
    "name": "Opportunity",
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string"},
        {"name": "Amount", "type": "currency"},
        {"name": "Probability", "type": "percent"},
        {"name": "IsWon", "type": "boolean"},
        {"name": "CloseDate", "type": "date"},
        {"name": "SystemModstamp", "type": "datetime"},
        {"name": "PartnerAccountId", "type": "reference"},
        {"name": "Seats__c", "type": "int"},
    ],
}
PAGE1 = (
    "Id,Name,Amount,Probability,IsWon,CloseDate,SystemModstamp,PartnerAccountId,Seats__c,"
    "Account.Name\n"
    '006A,"Big, Deal",250000.5,90,true,2026-12-31,2026-11-22T10:16:09.000Z,001P,12,Acme\n'
    "006B,Small,,,false,,2026-11-22T10:16:09.123Z,,,\n"
)
PAGE2 = "Id,Name,Amount,Probability,IsWon,CloseDate,SystemModstamp,PartnerAccountId,Seats__c,Account.Name\n006C,Third,1,0,TRUE,2027-01-01,2026-11-21T23:59:59.000+0000,001Q,0,Beta\n"  # noqa: E501


def _mock_query_job(rsps: responses.RequestsMock) -> None:
    rsps.get(API + "sobjects/Opportunity/describe/", json=DESCRIBE)
    rsps.post(JOBS, json={"id": "750Q", "state": "UploadComplete"})
    rsps.get(JOBS + "/750Q", json={"id": "750Q", "state": "InProgress"})
    rsps.get(JOBS + "/750Q", json={"id": "750Q", "state": "JobComplete"})


def test_bulk_query_types_rows_like_rest_and_pages_by_locator(
    client: SalesforceClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """CSV strings become REST JSON types; pages follow Sforce-Locator until "null"."""
    _mock_query_job(rsps)
    rsps.get(
        JOBS + "/750Q/results",
        body=PAGE1,
        content_type="text/csv",
        headers={"Sforce-Locator": "MTAwMDA", "Sforce-NumberOfRecords": "2"},
    )
    rsps.get(
        JOBS + "/750Q/results",
        body=PAGE2,
        content_type="text/csv",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    pages = client.bulk_query("SELECT Id, Name FROM Opportunity WHERE IsWon = true")
    first = next(pages)
    assert first[0] == {
        "attributes": {
            "type": "Opportunity",
            "url": "/services/data/v62.0/sobjects/Opportunity/006A",
        },
        "Id": "006A",
        "Name": "Big, Deal",
        "Amount": 250000.5,
        "Probability": 90.0,
        "IsWon": True,
        "CloseDate": "2026-12-31",
        "SystemModstamp": "2026-11-22T10:16:09.000+0000",
        "PartnerAccountId": "001P",
        "Seats__c": 12,
        "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
    }
    assert first[1]["Amount"] is None and first[1]["IsWon"] is False
    assert first[1]["CloseDate"] is None and first[1]["Account"] is None
    assert first[1]["SystemModstamp"] == "2026-11-22T10:16:09.123+0000"
    second = next(pages)
    assert [r["Id"] for r in second] == ["006C"]
    assert second[0]["IsWon"] is True and second[0]["Seats__c"] == 0
    assert list(pages) == []
    created = json.loads(rsps.calls[3].request.body)
    assert created == {
        "operation": "query",
        "query": "SELECT Id, Name FROM Opportunity WHERE IsWon = true",
    }
    locator_call = [c for c in rsps.calls if "/results" in c.request.url][1]
    assert parse_qs(urlsplit(locator_call.request.url).query)["locator"] == ["MTAwMDA"]
    assert sleeps == [0.05]  # one short poll wait while the job ran


def test_bulk_query_is_lazy(client: SalesforceClient, rsps: responses.RequestsMock) -> None:
    """Nothing is sent until the first page is asked for (constant memory, no wasted job)."""
    pages = client.bulk_query("SELECT Id FROM Opportunity")
    assert client.calls == 0
    del pages
    rsps.remove(responses.GET, API + "limits/")  # the fixture's budget check never ran


def test_bulk_query_timeout_is_query_timeout(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """A job that fails with QUERY_TIMEOUT raises QueryTimeout for the caller to narrow."""
    rsps.get(API + "sobjects/Opportunity/describe/", json=DESCRIBE)
    rsps.post(JOBS, json={"id": "750Q", "state": "UploadComplete"})
    rsps.get(
        JOBS + "/750Q",
        json={"id": "750Q", "state": "Failed", "errorMessage": "QUERY_TIMEOUT: query ran too long"},
    )
    with pytest.raises(QueryTimeout):
        list(client.bulk_query("SELECT Id FROM Opportunity"))


def test_bulk_query_failed_job_with_bad_field_is_fatal(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """A job failing on an unknown field stops with a check hint."""
    rsps.get(API + "sobjects/Opportunity/describe/", json=DESCRIBE)
    rsps.post(
        JOBS,
        status=400,
        json=[{"errorCode": "INVALID_FIELD", "message": "No such column 'Nope__c'"}],
    )
    with pytest.raises(BadRequest, match="prm-connector check"):
        list(client.bulk_query("SELECT Nope__c FROM Opportunity"))


def test_bulk_ingest_matches_results_back_to_input_order(
    client: SalesforceClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """Create job, PUT CSV, UploadComplete, poll, then successful/failed results in order."""
    rsps.post(INGEST, json={"id": "750I", "state": "Open"})
    rsps.put(INGEST + "/750I/batches", status=201)
    rsps.patch(INGEST + "/750I", json={"id": "750I", "state": "UploadComplete"})
    rsps.get(INGEST + "/750I", json={"id": "750I", "state": "JobComplete"})
    rsps.get(
        INGEST + "/750I/successfulResults/",
        content_type="text/csv",
        body='"sf__Id","sf__Created",PRM_Key__c,Subject,IsReminderSet\n'
        '"00T3","true",k3,"Call, then mail",false\n"00T1","false",k1,Hello,true\n',
    )
    rsps.get(
        INGEST + "/750I/failedResults/",
        content_type="text/csv",
        body='"sf__Id","sf__Error",PRM_Key__c,Subject,IsReminderSet\n'
        '"","STRING_TOO_LONG:Subject: data value too large:Subject --",k2,xx,#N/A\n',
    )
    records = [
        {"PRM_Key__c": "k1", "Subject": "Hello", "IsReminderSet": True},
        {"PRM_Key__c": "k2", "Subject": "xx", "IsReminderSet": None},
        {"PRM_Key__c": "k3", "Subject": "Call, then mail", "IsReminderSet": False},
    ]
    results = client.bulk_ingest("upsert", "Task", records, external_id_field="PRM_Key__c")
    assert [(r.index, r.id, r.success, r.created) for r in results] == [
        (0, "00T1", True, False),
        (1, None, False, False),
        (2, "00T3", True, True),
    ]
    assert results[1].action is ErrorAction.DEAD_LETTER
    assert results[1].errors[0].code == "STRING_TOO_LONG"
    assert results[1].errors[0].fields == ["Subject"]
    job = json.loads(rsps.calls[2].request.body)
    assert job["operation"] == "upsert" and job["externalIdFieldName"] == "PRM_Key__c"
    uploaded = rsps.calls[3].request
    assert uploaded.headers["Content-Type"] == "text/csv"
    assert uploaded.body.decode().splitlines() == [
        "PRM_Key__c,Subject,IsReminderSet",
        "k1,Hello,true",
        "k2,xx,#N/A",
        'k3,"Call, then mail",false',
    ]
    assert json.loads(rsps.calls[4].request.body) == {"state": "UploadComplete"}


def test_bulk_ingest_marks_unprocessed_records_for_retry(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """Records a failed job never processed come back failed with action RETRY."""
    rsps.post(INGEST, json={"id": "750J", "state": "Open"})
    rsps.put(INGEST + "/750J/batches", status=201)
    rsps.patch(INGEST + "/750J", json={"id": "750J", "state": "UploadComplete"})
    rsps.get(INGEST + "/750J", json={"id": "750J", "state": "Failed", "errorMessage": "boom"})
    rsps.get(INGEST + "/750J/successfulResults/", body="sf__Id,sf__Created,Id\n")
    rsps.get(INGEST + "/750J/failedResults/", body="sf__Id,sf__Error,Id\n")
    results = client.bulk_ingest("delete", "Account", [{"Id": "001A"}])
    assert results[0].success is False and results[0].action is ErrorAction.RETRY


def test_to_csv_and_error_parsing() -> None:
    """Nulls are #N/A, absent keys stay empty (unchanged); errors split code/message/fields."""
    assert to_csv([{"A": None, "B": 1.5}, {"B": 2}], ["A", "B"]) == "A,B\n#N/A,1.5\n,2\n"
    err = parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")
    assert (err.code, err.message, err.fields) == (
        "REQUIRED_FIELD_MISSING",
        "Required fields are missing: [Name]",
        ["Name"],
    )
