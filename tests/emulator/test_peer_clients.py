"""Third-party clients, unmodified, against the emulator: salesforce-bulk (Bulk API 1.0 with
XML job requests and CSV/XML batches), and the record of the calls every peer makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "bench" / "peers"
BULK1_VENV = PEERS / ".venv-bulk1" / "lib"


@pytest.mark.slow
@pytest.mark.skipif(not BULK1_VENV.exists(),
                    reason="bench/peers/.venv-bulk1 not installed (.ci/run installs it)")
def test_salesforce_bulk_runs_unmodified() -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/asynch_api_quickstart_create_job.htm
    (an XML jobInfo creates a job) and the CSV/XML batch formats of the Bulk API 1.0 guide:
    salesforce-bulk 2.2.0 inserts, updates, upserts and deletes through CSV batches, sends an
    XML batch, gets a row error back, and queries, all through its own API."""
    proc = subprocess.run([sys.executable, str(PEERS / "salesforce_bulk_v1.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["ok"], [s for s in summary["steps"] if not s["ok"]]
    assert proc.returncode == 0
    made = {(c["method"], c["path"]) for c in summary["calls"]}
    assert ("POST", "/services/async/vXX.X/job") in made
    assert ("GET", "/services/async/vXX.X/job/{id}/batch/{id}/result/{id}") in made
    assert all(int(s) < 400 for c in summary["calls"] for s in c["statuses"])


def test_the_recorded_calls_name_every_peer_and_all_succeeded() -> None:
    """bench/peers/CALLS.json (written by bench/peers/record_calls.py): which calls each
    client made, and that every step of every client succeeded."""
    record = json.loads((PEERS / "CALLS.json").read_text())
    clients = {r["client"]: r for r in record}
    assert set(clients) == {"simple-salesforce 1.12", "salesforce-bulk==2.2.0",
                            "tap-salesforce 2.8 (REST)", "tap-salesforce 2.8 (BULK)"}
    for name, result in clients.items():
        assert result["ok"] and all(s["ok"] for s in result["steps"]), name
        assert result["calls"], name
    bulk = {c["path"] for c in clients["tap-salesforce 2.8 (BULK)"]["calls"]}
    assert "/services/async/vXX.X/job/{id}/batch/{id}/result/{id}" in bulk
    sf = {c["path"] for c in clients["simple-salesforce 1.12"]["calls"]}
    assert {"/services/data/vXX.X/jobs/ingest", "/services/async/vXX.X/job"} <= sf


def test_fold_groups_calls_by_kind() -> None:
    sys.path.insert(0, str(PEERS))
    from callrecord import fold

    calls = [
        {"method": "GET", "path": "/services/data/v62.0/sobjects/Account/0015g000000fxSnAAI",
         "status": 200},
        {"method": "GET", "path": "/services/data/v61.0/sobjects/Account/0015g000000fxSoAAI",
         "status": 404},
        {"method": "POST", "path": "/services/async/61.0/job", "status": 201},
    ]
    assert fold(calls) == [
        {"method": "GET", "path": "/services/data/vXX.X/sobjects/Account/{id}",
         "statuses": {"200": 1, "404": 1}},
        {"method": "POST", "path": "/services/async/vXX.X/job", "statuses": {"201": 1}},
    ]
