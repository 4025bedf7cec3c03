"""Bulk API 1.0 JSON jobs over real HTTPS, driven by unmodified simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from bulkfixtures import Emu, emulator_session


@pytest.fixture(scope="module")
def emu() -> Iterator[Emu]:
    with emulator_session() as e:
        yield e


@pytest.fixture(scope="module")
def sf(emu: Emu) -> Salesforce:
    return emu.salesforce()


def test_insert_returns_a_result_per_record_in_order(emu: Emu, sf: Salesforce) -> None:
    """sf.bulk.Account.insert: success, created and the new Id for every record, in order."""
    data = [{"Name": f"V1 Insert {i}", "Website": f"https://v1-{i}.example"} for i in range(25)]
    results: Any = sf.bulk.Account.insert(data, batch_size=10)
    assert len(results) == 25
    assert all(r["success"] and r["created"] and r["errors"] == [] for r in results)
    ids = [r["id"] for r in results]
    got = {
        r["Id"]: r["Name"]
        for r in emu.query("SELECT Id, Name FROM Account WHERE Name LIKE 'V1 Insert %'").records
    }
    assert {got[i] for i in ids} == {d["Name"] for d in data}
    assert len(set(ids)) == 25


def test_failed_record_reports_statuscode_message_and_fields(sf: Salesforce) -> None:
    """A record missing Name fails alone with REQUIRED_FIELD_MISSING; its neighbour succeeds."""
    results: Any = sf.bulk.Account.insert([{"Name": "V1 ok"}, {"Website": "https://x.example"}])
    assert results[0]["success"] is True
    assert results[1]["success"] is False and results[1]["id"] is None
    err = results[1]["errors"][0]
    assert err["statusCode"] == "REQUIRED_FIELD_MISSING" and err["fields"] == ["Name"]


def test_update_upsert_and_delete(emu: Emu, sf: Salesforce) -> None:
    """update by Id, upsert on an external id (create then update), delete by Id."""
    ids = [r["id"] for r in sf.bulk.Account.insert([{"Name": "V1 A"}, {"Name": "V1 B"}])]
    upd: Any = sf.bulk.Account.update([{"Id": ids[0], "Name": "V1 A2"}])
    assert upd[0]["success"] and upd[0]["created"] is False and upd[0]["id"] == ids[0]

    certs = [{"PRM_Key__c": "v1-cert", "Name": "V1 Cert", "Partner__c": ids[1]}]
    first: Any = sf.bulk.Partner_Certification__c.upsert(certs, "PRM_Key__c")
    certs[0]["Name"] = "V1 Cert 2"
    second: Any = sf.bulk.Partner_Certification__c.upsert(certs, "PRM_Key__c")
    assert first[0]["created"] is True and second[0]["created"] is False
    assert first[0]["id"] == second[0]["id"]

    deleted: Any = sf.bulk.Account.delete([{"Id": ids[1]}])
    assert deleted[0]["success"]
    names = {
        r["Name"]
        for r in emu.query(f"SELECT Name FROM Account WHERE Id IN ('{ids[0]}', '{ids[1]}')").records
    }
    assert names == {"V1 A2"}


def test_query_returns_records_with_attributes_and_epoch_millis(emu: Emu, sf: Salesforce) -> None:
    """sf.bulk.Account.query: the org's rows; datetimes as epoch milliseconds like Bulk JSON."""
    sf.bulk.Account.insert([{"Name": f"V1 Query {i}"} for i in range(5)])
    soql = "SELECT Id, Name, CreatedDate FROM Account WHERE Name LIKE 'V1 Query %'"
    records: Any = sf.bulk.Account.query(soql)
    expected = emu.query(soql).records
    assert sorted(r["Id"] for r in records) == sorted(r["Id"] for r in expected)
    rec = records[0]
    assert rec["attributes"]["type"] == "Account"
    assert isinstance(rec["CreatedDate"], int) and rec["CreatedDate"] > 1_600_000_000_000


def test_query_all_includes_deleted_rows(emu: Emu, sf: Salesforce) -> None:
    """query_all sees a deleted Account with IsDeleted true; query does not."""
    rid = sf.bulk.Account.insert([{"Name": "V1 Deleted"}])[0]["id"]
    sf.bulk.Account.delete([{"Id": rid}])
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{rid}'"
    assert sf.bulk.Account.query(soql) == []
    everything: Any = sf.bulk.Account.query_all(soql)
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(rid, True)]


def test_unsupported_query_fails_the_batch(sf: Salesforce) -> None:
    """A parent-to-child subquery is refused: the batch fails with the Bulk API's message."""
    with pytest.raises(Exception, match="Aggregate Relationships not supported"):
        sf.bulk.Account.query("SELECT Id, (SELECT Id FROM Opportunities) FROM Account")


def test_session_header_is_required(emu: Emu) -> None:
    """Without a valid X-SFDC-Session the async API answers InvalidSessionId."""
    url = emu.instance_url + "/services/async/61.0/job"
    body = {"operation": "insert", "object": "Account", "contentType": "JSON"}
    for headers in ({}, {"X-SFDC-Session": "not-a-token"}):
        resp = requests.post(url, json=body, headers=headers, verify=emu.ca_bundle, timeout=30)
        assert resp.status_code == 400
        assert resp.json()["exceptionCode"] == "InvalidSessionId"


def test_job_and_batch_info_describe_progress(emu: Emu) -> None:
    """Job info counts batches; a batch answers Queued when added and Completed after."""
    base = emu.instance_url + "/services/async/61.0/job"
    headers = {"X-SFDC-Session": emu.token, "Content-Type": "application/json"}
    job = requests.post(
        base,
        json={"operation": "insert", "object": "Account", "contentType": "JSON"},
        headers=headers,
        verify=emu.ca_bundle,
        timeout=30,
    ).json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    batch = requests.post(
        f"{base}/{job['id']}/batch",
        json=[{"Name": "V1 Raw"}],
        headers=headers,
        verify=emu.ca_bundle,
        timeout=30,
    ).json()
    assert batch["state"] == "Queued" and batch["id"].startswith("751")
    info = requests.get(
        f"{base}/{job['id']}/batch/{batch['id']}", headers=headers, verify=emu.ca_bundle, timeout=30
    ).json()
    assert info["state"] == "Completed" and info["numberRecordsProcessed"] == 1
    closed = requests.post(
        f"{base}/{job['id']}",
        json={"state": "Closed"},
        headers=headers,
        verify=emu.ca_bundle,
        timeout=30,
    ).json()
    assert closed["state"] == "Closed" and closed["numberBatchesCompleted"] == 1


NS = "{http://www.force.com/2009/06/asyncapi/dataload}"


def _v1(emu: Emu, method: str, path: str, body: bytes, content_type: str) -> requests.Response:
    return requests.request(
        method, emu.instance_url + "/services/async/61.0/job" + path, data=body,
        headers={"X-SFDC-Session": emu.token, "Content-Type": content_type},
        verify=emu.ca_bundle, timeout=30,
    )


def test_xml_job_requests_with_csv_and_xml_batches(emu: Emu) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/asynch_api_quickstart_create_job.htm
    (a jobInfo XML document creates the job; the answer is XML) and the guide's CSV and XML
    data files: a CSV batch's results are CSV (Id, Success, Created, Error), an XML batch's
    are XML; "#N/A" sets a field to null."""
    from defusedxml import ElementTree

    def job(content_type: str) -> str:
        doc = (f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS[1:-1]}">'
               f"<operation>insert</operation><object>Account</object>"
               f"<contentType>{content_type}</contentType></jobInfo>").encode()
        resp = _v1(emu, "POST", "", doc, "application/xml; charset=UTF-8")
        assert resp.status_code == 201 and resp.headers["Content-Type"] == "application/xml"
        root = ElementTree.fromstring(resp.content)
        assert root.findtext(f"{NS}contentType") == content_type
        return str(root.findtext(f"{NS}id"))

    csv_job = job("CSV")
    batch = _v1(emu, "POST", f"/{csv_job}/batch",
                b"Name,Website\nV1 Csv A,#N/A\n\"V1 Csv, B\",https://b.example\n", "text/csv")
    batch_id = ElementTree.fromstring(batch.content).findtext(f"{NS}id")
    result = _v1(emu, "GET", f"/{csv_job}/batch/{batch_id}/result", b"", "text/csv")
    assert result.headers["Content-Type"] == "text/csv"
    lines = result.text.strip().splitlines()
    assert lines[0] == '"Id","Success","Created","Error"'
    assert all('"true","true",""' in line for line in lines[1:]) and len(lines) == 3
    assert [r["Name"] for r in emu.query(
        "SELECT Name FROM Account WHERE Name LIKE 'V1 Csv%' ORDER BY Name").records] == [
        "V1 Csv A", "V1 Csv, B"]

    xml_job = job("XML")
    doc = (f'<sObjects xmlns="{NS[1:-1]}"><sObject><Name>V1 Xml</Name></sObject>'
           "<sObject><Nme>typo</Nme></sObject></sObjects>").encode()
    batch = _v1(emu, "POST", f"/{xml_job}/batch", doc, "application/xml")
    batch_id = ElementTree.fromstring(batch.content).findtext(f"{NS}id")
    result = _v1(emu, "GET", f"/{xml_job}/batch/{batch_id}/result", b"", "application/xml")
    rows = ElementTree.fromstring(result.content).findall(f"{NS}result")
    assert [r.findtext(f"{NS}success") for r in rows] == ["true", "false"]
    assert rows[1].findtext(f"{NS}errors/{NS}statusCode") == "INVALID_FIELD"
    closed = _v1(emu, "POST", f"/{xml_job}",
                 f'<jobInfo xmlns="{NS[1:-1]}"><state>Closed</state></jobInfo>'.encode(),
                 "application/xml")
    assert ElementTree.fromstring(closed.content).findtext(f"{NS}state") == "Closed"
