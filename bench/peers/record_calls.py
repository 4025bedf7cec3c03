"""Record which API calls each third-party client makes against the emulator, and that they
succeed: simple-salesforce (REST, ``bulk``, ``bulk2``), tap-salesforce (REST and BULK) and
salesforce-bulk (Bulk API 1.0 with XML job requests).

    python bench/peers/record_calls.py [--out bench/peers/CALLS.json] [--skip-tap]

Each client runs unmodified against a fresh emulator; the emulator's call log
(``/_emulator/calls``) says what it called, folded to kinds of calls (ids as ``{id}``, API
versions as ``vXX.X``) with the count of each response status. Exits 1 when a client failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from callrecord import fold  # noqa: E402

from connector.emulator.testing import running_emulator  # noqa: E402

DEFAULT_OUT = HERE / "CALLS.json"


def simple_salesforce() -> dict[str, Any]:
    """simple-salesforce 1.12: REST CRUD, upsert, query paging, describe, bulk and bulk2."""
    import requests
    from simple_salesforce import Salesforce

    steps: list[dict[str, Any]] = []
    with running_emulator(seed="demo", records=2500) as emu:
        # The documented way to trust a CA: REQUESTS_CA_BUNDLE overrides Session.verify.
        os.environ["REQUESTS_CA_BUNDLE"] = emu.ca_bundle
        session = requests.Session()
        session.verify = emu.ca_bundle
        sf = Salesforce(instance_url=emu.instance_url, session_id=emu.token("integration"),
                        session=session, version="62.0")

        def step(name: str, fn: Callable[[], Any]) -> None:
            try:
                steps.append({"step": name, "ok": True, "detail": fn()})
            except Exception as exc:  # reported, the next steps still run
                steps.append({"step": name, "ok": False, "detail": repr(exc)[:500]})

        created: list[str] = []
        step("describe", lambda: len(sf.Account.describe()["fields"]))
        step("query_all (nextRecordsUrl paging)",
             lambda: len(sf.query_all("SELECT Id FROM Opportunity")["records"]))
        step("create", lambda: created.append(sf.Account.create({"Name": "Peer Co"})["id"]))
        step("update", lambda: sf.Account.update(created[0], {"Website": "https://peer.example"}))
        step("get", lambda: sf.Account.get(created[0])["Website"])
        step("upsert by external id",
             lambda: sf.Partner_Certification__c.upsert("PRM_Key__c/peer-1", {"Name": "Peer"}))
        step("composite/sobjects", lambda: len(sf.restful("composite/sobjects", method="POST",
             json={"records": [{"attributes": {"type": "Account"}, "Name": "Peer Two"}]})))
        step("delete", lambda: sf.Account.delete(created[0]))
        step("bulk insert (Bulk API 1.0, JSON)", lambda: sum(
            r["success"] for r in sf.bulk.Account.insert([{"Name": f"Bulk1 {i}"}
                                                         for i in range(5)])))
        step("bulk query (Bulk API 1.0, JSON)",
             lambda: len(sf.bulk.Account.query("SELECT Id FROM Account")))
        step("bulk2 insert (Bulk API 2.0 ingest)", lambda: sf.bulk2.Account.insert(
            records=[{"Name": f"Bulk2 {i}"} for i in range(5)], wait=0.1))
        step("bulk2 query (Bulk API 2.0 query, paged)", lambda: sum(
            page.count("\n") - 1 for page in sf.bulk2.Opportunity.query(
                "SELECT Id FROM Opportunity", max_records=1000, wait=0.1)))
        calls = emu.call("GET", "/_emulator/calls")["calls"]
    return {"client": "simple-salesforce 1.12", "ok": all(s["ok"] for s in steps),
            "steps": steps, "calls": fold(calls)}


def tap(api_type: str) -> dict[str, Any]:
    """tap-salesforce 2.8 through bench/peers/tap_salesforce.py (its own venv)."""
    with tempfile.TemporaryDirectory() as tmp:
        calls_file = Path(tmp) / "calls.json"
        proc = subprocess.run(
            [sys.executable, str(HERE / "tap_salesforce.py"), "--api-type", api_type,
             "--calls", str(calls_file)],
            cwd=ROOT, capture_output=True, text=True, timeout=900,
        )
        lines = proc.stdout.strip().splitlines()
        summary = json.loads(lines[-1]) if lines else {"ok": False}
        calls = json.loads(calls_file.read_text()) if calls_file.exists() else []
    return {"client": f"tap-salesforce 2.8 ({api_type})", "ok": bool(summary.get("ok")),
            "steps": [{"step": "discover + sync Opportunity, ids equal the org's",
                       "ok": bool(summary.get("ok")),
                       "detail": {k: summary.get(k) for k in
                                  ("records_extracted", "org_records", "duplicates")}}],
            "calls": calls}


def salesforce_bulk() -> dict[str, Any]:
    """salesforce-bulk 2.2 through bench/peers/salesforce_bulk_v1.py (its own venv)."""
    from salesforce_bulk_v1 import run

    return run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--skip-tap", action="store_true", help="leave tap-salesforce out")
    args = parser.parse_args()
    results = [simple_salesforce(), salesforce_bulk()]
    if not args.skip_tap:
        results += [tap("REST"), tap("BULK")]
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({"ok": all(r["ok"] for r in results),
                      "clients": {r["client"]: r["ok"] for r in results}}))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
