"""Bulk API 2.0 job polling: short waits first, growing, capped by backoff_max_seconds."""

from __future__ import annotations

from itertools import pairwise

import pytest
import responses
from sf_fakes import API, Sleeps

from connector.salesforce import SalesforceClient
from connector.salesforce.bulk import POLL_FIRST_SECONDS, POLL_GROWTH

JOBS = API + "jobs/query"
DESCRIBE = {"name": "Account", "fields": [{"name": "Id", "type": "id"}]}


def test_a_slow_job_is_polled_with_growing_waits_up_to_the_cap(
    client: SalesforceClient, rsps: responses.RequestsMock, sleeps: Sleeps
) -> None:
    """25 polls in progress: waits start short, grow by a factor, stop growing at 8 s."""
    rsps.get(API + "sobjects/Account/describe/", json=DESCRIBE)
    rsps.post(JOBS, json={"id": "750P", "state": "UploadComplete"})
    for _ in range(25):
        rsps.get(JOBS + "/750P", json={"id": "750P", "state": "InProgress"})
    rsps.get(JOBS + "/750P", json={"id": "750P", "state": "JobComplete"})
    rsps.get(
        JOBS + "/750P/results",
        body="Id\n001A\n",
        content_type="text/csv",
        headers={"Sforce-Locator": "null"},
    )
    assert [r["Id"] for page in client.bulk_query("SELECT Id FROM Account") for r in page] == [
        "001A"
    ]
    assert sleeps[0] == pytest.approx(POLL_FIRST_SECONDS) and sleeps[0] <= 0.1
    assert all(b == pytest.approx(min(a * POLL_GROWTH, 8)) for a, b in pairwise(sleeps))
    assert max(sleeps) == 8 and len(sleeps) == 25
