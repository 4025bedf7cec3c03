"""Bulk API 2.0 over real HTTPS, driven by unmodified simple-salesforce."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

from bulkfixtures import Emu, emulator_session

N_OPPS = 5200


@pytest.fixture(scope="module")
def emu() -> Iterator[Emu]:
    with emulator_session() as e:
        yield e


@pytest.fixture(scope="module")
def sf(emu: Emu) -> Salesforce:
    return emu.salesforce()


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def write_csv(path: Path, header: list[str], data: list[list[str]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(data)
    return str(path)


@pytest.fixture(scope="module")
def customer(sf: Salesforce) -> str:
    return str(sf.Account.create({"Name": "Bulk2 End Customer"})["id"])


@pytest.fixture(scope="module")
def inserted_opps(sf: Salesforce, customer: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("b2") / "opps.csv"
    data = [
        [f"Bulk Opp {i:05d}", customer, "Prospecting", "2026-12-31", f"{i}.5"]
        for i in range(N_OPPS)
    ]
    write_csv(path, ["Name", "AccountId", "StageName", "CloseDate", "Amount"], data)
    return sf.bulk2.Opportunity.insert(csv_file=str(path), wait=0)


def test_insert_from_a_csv_file_creates_every_row(emu: Emu, inserted_opps: Any) -> None:
    """5,200 rows in one CSV: one job, all processed, none failed, all in the org."""
    assert len(inserted_opps) == 1
    result = inserted_opps[0]
    assert result["numberRecordsProcessed"] == N_OPPS
    assert result["numberRecordsFailed"] == 0
    assert result["numberRecordsTotal"] == N_OPPS
    assert result["job_id"].startswith("750") and len(result["job_id"]) == 18
    count = emu.query("SELECT COUNT() FROM Opportunity WHERE Name LIKE 'Bulk Opp %'").total_size
    assert count == N_OPPS


def test_successful_results_list_ids_created_flags_and_original_columns(
    sf: Salesforce, inserted_opps: Any
) -> None:
    """successfulResults: sf__Id, sf__Created, then the uploaded columns as sent."""
    text = sf.bulk2.Opportunity.get_successful_records(inserted_opps[0]["job_id"])
    got = rows(text)
    assert list(got[0]) == [
        "sf__Id",
        "sf__Created",
        "Name",
        "AccountId",
        "StageName",
        "CloseDate",
        "Amount",
    ]
    assert len(got) == N_OPPS
    assert all(r["sf__Created"] == "true" and r["sf__Id"].startswith("006") for r in got)
    assert got[7]["Name"] == "Bulk Opp 00007" and got[7]["Amount"] == "7.5"
    assert rows(sf.bulk2.Opportunity.get_failed_records(inserted_opps[0]["job_id"])) == []


def test_query_pages_with_locator_return_exactly_the_orgs_rows(
    emu: Emu, sf: Salesforce, inserted_opps: Any
) -> None:
    """A query over 5,000+ rows read 1,500 at a time: every page has the header, no row lost."""
    soql = "SELECT Id, Name, Amount, IsWon, SystemModstamp, Account.Name FROM Opportunity"
    pages = list(sf.bulk2.Opportunity.query(soql, max_records=1500, wait=0))
    expected = emu.query("SELECT Id FROM Opportunity").records
    assert len(pages) == math.ceil(len(expected) / 1500)
    got = [r for page in pages for r in rows(page)]
    assert [r["Id"] for r in got] == [r["Id"] for r in expected]
    assert list(got[0]) == ["Id", "Name", "Amount", "IsWon", "SystemModstamp", "Account.Name"]
    bulk = next(r for r in got if r["Name"] == "Bulk Opp 00003")
    assert bulk["Amount"] == "3.5"
    assert bulk["IsWon"] == "false"
    assert bulk["Account.Name"] == "Bulk2 End Customer"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", bulk["SystemModstamp"])


def test_results_headers_carry_count_and_locator_ending_in_null(
    emu: Emu, inserted_opps: Any
) -> None:
    """Raw paging: Sforce-NumberOfRecords per page, Sforce-Locator until the string "null"."""
    job = emu.post("jobs/query", {"operation": "query", "query": "SELECT Id FROM Opportunity"})
    assert job["state"] == "UploadComplete" and job["operation"] == "query"
    assert emu.wait_job("query", job["id"])["state"] == "JobComplete"
    locator, total, pages = None, 0, 0
    while True:
        params: dict[str, Any] = {"maxRecords": 2000}
        if locator:
            params["locator"] = locator
        resp = emu.raw("GET", f"jobs/query/{job['id']}/results", params=params)
        assert resp.status_code == 200
        n = int(resp.headers["Sforce-NumberOfRecords"])
        assert n == len(rows(resp.text))
        total += n
        pages += 1
        locator = resp.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert total == emu.query("SELECT COUNT() FROM Opportunity").total_size
    assert pages == math.ceil(total / 2000)


def test_update_ignores_empty_cells_and_nulls_hash_na(
    emu: Emu, sf: Salesforce, tmp_path: Path
) -> None:
    """Bulk CSV: an empty cell leaves the field alone; #N/A sets it to null."""
    a = sf.Account.create({"Name": "Keep Me", "Website": "https://keep.example"})["id"]
    b = sf.Account.create({"Name": "Null Me", "Website": "https://null.example"})["id"]
    path = write_csv(
        tmp_path / "upd.csv",
        ["Id", "Name", "Website"],
        [[a, "Kept Renamed", ""], [b, "", "#N/A"]],
    )
    res = sf.bulk2.Account.update(csv_file=path, wait=0)
    assert res[0]["numberRecordsFailed"] == 0
    got = {
        r["Id"]: r
        for r in emu.query(
            f"SELECT Id, Name, Website FROM Account WHERE Id IN ('{a}', '{b}')"
        ).records
    }
    assert got[a]["Name"] == "Kept Renamed" and got[a]["Website"] == "https://keep.example"
    assert got[b]["Name"] == "Null Me" and got[b]["Website"] is None


def test_bad_rows_land_in_failed_results_with_salesforce_error_text(
    sf: Salesforce, tmp_path: Path
) -> None:
    """A row without Name fails with REQUIRED_FIELD_MISSING; the good rows still commit."""
    path = write_csv(
        tmp_path / "bad.csv",
        ["Name", "Website"],
        [["Good One", ""], ["", "https://no-name.example"], ["Good Two", ""]],
    )
    res = sf.bulk2.Account.insert(csv_file=path, wait=0)
    assert res[0]["numberRecordsProcessed"] == 3
    assert res[0]["numberRecordsFailed"] == 1
    failed = rows(sf.bulk2.Account.get_failed_records(res[0]["job_id"]))
    assert len(failed) == 1
    assert failed[0]["sf__Id"] == ""
    assert failed[0]["Website"] == "https://no-name.example"
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:")
    assert failed[0]["sf__Error"].endswith(":Name --")
    ok = rows(sf.bulk2.Account.get_successful_records(res[0]["job_id"]))
    assert sorted(r["Name"] for r in ok) == ["Good One", "Good Two"]


def test_bad_number_is_a_row_error_not_a_job_failure(sf: Salesforce, customer: str) -> None:
    """A non-numeric Amount fails only its row, naming the field."""
    res = sf.bulk2.Opportunity.insert(
        records=[
            {
                "Name": "Typed",
                "AccountId": customer,
                "StageName": "Prospecting",
                "CloseDate": "2026-12-01",
                "Amount": "abc",
            },
        ],
        wait=0,
    )
    failed = rows(sf.bulk2.Opportunity.get_failed_records(res[0]["job_id"]))
    assert failed[0]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert failed[0]["sf__Error"].endswith(":Amount --")


def test_upsert_on_external_id_creates_then_updates(
    emu: Emu, sf: Salesforce, customer: str
) -> None:
    """Upsert by PRM_Key__c: first run creates (sf__Created true), second run updates."""
    partner = sf.Account.create({"Name": "Upsert Partner"})["id"]
    recs = [
        {"PRM_Key__c": f"cert-{i}", "Name": f"Cert {i}", "Partner__c": partner} for i in range(3)
    ]
    first = sf.bulk2.Partner_Certification__c.upsert(
        records=recs, external_id_field="PRM_Key__c", wait=0
    )
    created = rows(sf.bulk2.Partner_Certification__c.get_successful_records(first[0]["job_id"]))
    assert [r["sf__Created"] for r in created] == ["true"] * 3
    recs[0]["Name"] = "Cert 0 renamed"
    second = sf.bulk2.Partner_Certification__c.upsert(
        records=recs, external_id_field="PRM_Key__c", wait=0
    )
    again = rows(sf.bulk2.Partner_Certification__c.get_successful_records(second[0]["job_id"]))
    assert [r["sf__Created"] for r in again] == ["false"] * 3
    assert {r["sf__Id"] for r in again} == {r["sf__Id"] for r in created}
    names = {
        r["Name"]
        for r in emu.query(
            f"SELECT Name FROM Partner_Certification__c WHERE Partner__c = '{partner}'"
        ).records
    }
    assert names == {"Cert 0 renamed", "Cert 1", "Cert 2"}


def test_delete_moves_rows_to_the_recycle_bin(emu: Emu, sf: Salesforce) -> None:
    """Bulk delete: gone from query, still visible to queryAll with IsDeleted."""
    ids = [sf.Account.create({"Name": f"Doomed {i}"})["id"] for i in range(3)]
    res = sf.bulk2.Account.delete(records=[{"Id": i} for i in ids], wait=0)
    assert res[0]["numberRecordsFailed"] == 0
    in_list = ",".join(f"'{i}'" for i in ids)
    assert emu.query(f"SELECT Id FROM Account WHERE Id IN ({in_list})").records == []
    pages = list(
        sf.bulk2.Account.query_all(
            f"SELECT Id, IsDeleted FROM Account WHERE Id IN ({in_list})", wait=0
        )
    )
    assert sorted((r["Id"], r["IsDeleted"]) for p in pages for r in rows(p)) == sorted(
        (i, "true") for i in ids
    )


def test_unknown_column_fails_the_job(sf: Salesforce) -> None:
    """A header naming no field: the job ends Failed and simple-salesforce raises."""
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Account.insert(records=[{"Name": "x", "Nope__c": "y"}], wait=0)


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT COUNT() FROM Account",
        "SELECT Name, COUNT(Id) FROM Account GROUP BY Name",
        "SELECT Id, (SELECT Id FROM Opportunities) FROM Account",
        "SELECT Id FROM Account LIMIT 5 OFFSET 2",
    ],
)
def test_queries_bulk_does_not_support_are_rejected(sf: Salesforce, soql: str) -> None:
    """Aggregates, GROUP BY, parent-to-child subqueries and OFFSET: 400 at job creation."""
    with pytest.raises(SalesforceMalformedRequest):
        list(sf.bulk2.Account.query(soql, wait=0))


def test_abort_list_and_delete_jobs(emu: Emu) -> None:
    """An open job can be aborted; jobs are listed; a finished job can be deleted (204)."""
    job = emu.post("jobs/ingest", {"object": "Account", "operation": "insert"})
    assert job["state"] == "Open"
    assert job["contentUrl"].endswith(f"/jobs/ingest/{job['id']}/batches")
    put = emu.raw(
        "PUT",
        f"jobs/ingest/{job['id']}/batches",
        data=b"Name\nNever\n",
        headers={"Content-Type": "text/csv"},
    )
    assert put.status_code == 201
    aborted = emu.raw("PATCH", f"jobs/ingest/{job['id']}", json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    # https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_unprocessed_results.htm
    # spells the path unprocessedrecords; simple-salesforce sends unprocessedRecords.
    for path in ("unprocessedrecords", "unprocessedRecords"):
        unprocessed = emu.raw("GET", f"jobs/ingest/{job['id']}/{path}")
        assert rows(unprocessed.text) == [{"Name": "Never"}], path
    listed = emu.get("jobs/ingest")
    assert listed["done"] is True and job["id"] in {j["id"] for j in listed["records"]}
    assert emu.raw("DELETE", f"jobs/ingest/{job['id']}").status_code == 204
    assert emu.raw("GET", f"jobs/ingest/{job['id']}").status_code == 404
    assert emu.query("SELECT Id FROM Account WHERE Name = 'Never'").records == []


def test_query_jobs_run_after_the_create_call_through_in_progress(emu: Emu) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_create_job.htm
    answers state UploadComplete; the job then runs asynchronously: InProgress, JobComplete
    (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/query_get_one_job.htm)."""
    job = emu.post("jobs/query", {"operation": "query", "query": "SELECT Id FROM Account"})
    assert job["state"] == "UploadComplete"
    assert emu.wait_job("query", job["id"])["state"] == "JobComplete"
    states = emu.stats()["bulk2_jobs"][job["id"]]
    assert states == ["UploadComplete", "InProgress", "JobComplete"]


def test_bulk_calls_are_counted(emu: Emu) -> None:
    """Every Bulk 2.0 request shows up in the emulator's API call statistics."""
    before = emu.stats()
    emu.get("jobs/ingest")
    after = emu.stats()
    assert after["api_calls"] > before["api_calls"]
    assert any("jobs" in k for k in after["by_endpoint"])


def test_unauthenticated_requests_are_rejected(emu: Emu) -> None:
    """No bearer token: 401, like every other REST resource."""
    resp = requests.get(emu.url("jobs/ingest"), verify=emu.ca_bundle, timeout=30)
    assert resp.status_code == 401
