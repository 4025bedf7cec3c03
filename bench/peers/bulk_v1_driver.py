"""Drive salesforce-bulk (a Bulk API 1.0 client from PyPI) through its own API, unmodified.

Runs in bench/peers/.venv-bulk1, never in the project's venv (it imports nothing from it):

    .venv-bulk1/bin/python bulk_v1_driver.py INSTANCE_URL SESSION_ID

REQUESTS_CA_BUNDLE names the emulator's CA. Prints one JSON line:
``{"ok": bool, "steps": [{"step", "ok", "detail"}]}``.
"""

import csv
import io
import json
import sys
import traceback

from salesforce_bulk import SalesforceBulk
from salesforce_bulk.util import IteratorBytesIO  # noqa: F401  (the client's own helper)

API = "61.0"


def main():
    instance_url, session = sys.argv[1], sys.argv[2]
    bulk = SalesforceBulk(sessionId=session, host=instance_url, API_version=API)
    steps = []

    def step(name, fn):
        try:
            detail = fn()
            steps.append({"step": name, "ok": True, "detail": detail})
            return detail
        except Exception as exc:  # a failed step is reported, the next ones still run
            steps.append({"step": name, "ok": False,
                          "detail": "".join(traceback.format_exception_only(type(exc), exc))})
            return None

    def run_dml(job, data):
        batch = bulk.post_batch(job, data)
        bulk.wait_for_batch(job, batch, timeout=60, sleep_interval=0.2)
        bulk.close_job(job)
        return bulk.get_batch_results(batch, job)

    def insert_csv():
        job = bulk.create_insert_job("Account", contentType="CSV")
        data = "Name,Website\nBulkV1 CSV One,https://one.example\nBulkV1 CSV Two,\n"
        rows = run_dml(job, data.encode())
        assert [r.success for r in rows] == ["true", "true"], rows
        assert [r.created for r in rows] == ["true", "true"], rows
        return [r.id for r in rows]

    ids = step("insert CSV (create_insert_job, post_batch, wait_for_batch, close_job, "
               "get_batch_results)", insert_csv) or []

    def update_csv():
        job = bulk.create_update_job("Account", contentType="CSV")
        data = "Id,Name\n" + "".join(f"{i},BulkV1 Renamed {n}\n" for n, i in enumerate(ids))
        rows = run_dml(job, data.encode())
        assert all(r.success == "true" for r in rows) and len(rows) == len(ids), rows
        return len(rows)

    step("update CSV", update_csv)

    def upsert_csv():
        job = bulk.create_upsert_job("Partner_Certification__c", "PRM_Key__c",
                                     contentType="CSV")
        data = "PRM_Key__c,Name\nv1-key-1,Upserted One\nv1-key-2,Upserted Two\n"
        rows = run_dml(job, data.encode())
        assert [r.created for r in rows] == ["true", "true"], rows
        job = bulk.create_upsert_job("Partner_Certification__c", "PRM_Key__c",
                                     contentType="CSV")
        rows = run_dml(job, b"PRM_Key__c,Name\nv1-key-1,Upserted Again\n")
        assert [(r.success, r.created) for r in rows] == [("true", "false")], rows
        return 3

    step("upsert CSV on an external id", upsert_csv)

    def insert_xml():
        job = bulk.create_insert_job("Account", contentType="XML")
        doc = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sObjects xmlns="http://www.force.com/2009/06/asyncapi/dataload">'
            "<sObject><Name>BulkV1 XML One</Name></sObject>"
            "<sObject><Name>BulkV1 XML Two</Name></sObject></sObjects>"
        )
        batch = bulk.post_batch(job, doc.encode())
        bulk.wait_for_batch(job, batch, timeout=60, sleep_interval=0.2)
        bulk.close_job(job)
        return bulk.batch_state(batch, job, reload=True)

    step("insert XML batch", insert_xml)

    def bad_row():
        job = bulk.create_insert_job("Opportunity", contentType="CSV")
        rows = run_dml(job, b"Name,StageName,CloseDate\nNo Close Date,Prospecting,\n")
        assert rows[0].success == "false" and "REQUIRED_FIELD_MISSING" in rows[0].error, rows
        return rows[0].error

    step("a bad row is a row error", bad_row)

    def query_csv():
        job = bulk.create_query_job("Account", contentType="CSV")
        batch = bulk.query(job, "SELECT Id, Name FROM Account WHERE Name LIKE 'BulkV1%'")
        bulk.wait_for_batch(job, batch, timeout=60, sleep_interval=0.2)
        bulk.close_job(job)
        names = []
        for result in bulk.get_all_results_for_query_batch(batch, job):
            reader = csv.DictReader(io.TextIOWrapper(result, encoding="utf-8"))
            names += [row["Name"] for row in reader]
        assert sorted(names) == ["BulkV1 Renamed 0", "BulkV1 Renamed 1", "BulkV1 XML One",
                                 "BulkV1 XML Two"], names
        return len(names)

    step("query CSV (create_query_job, query, get_all_results_for_query_batch)", query_csv)

    def status_calls():
        job = bulk.create_query_job("Account", contentType="CSV")
        batch = bulk.query(job, "SELECT Id FROM Account")
        bulk.wait_for_batch(job, batch, timeout=60, sleep_interval=0.2)
        listed = bulk.get_batch_list(job)
        state = bulk.job_state(job)
        bulk.close_job(job)
        assert listed and listed[0]["id"] == batch and state == "Open", (listed, state)
        return bulk.job_state(job)

    step("job_status, get_batch_list", status_calls)

    def delete_csv():
        job = bulk.create_delete_job("Account", contentType="CSV")
        rows = run_dml(job, ("Id\n" + "".join(f"{i}\n" for i in ids)).encode())
        assert all(r.success == "true" for r in rows) and len(rows) == len(ids), rows
        return len(rows)

    step("delete CSV", delete_csv)
    print(json.dumps({"ok": all(s["ok"] for s in steps), "steps": steps}))


if __name__ == "__main__":
    main()
