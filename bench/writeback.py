"""Write-back throughput: N approvals through the outbox, by Collections and by Bulk API 2.0.

    .venv/bin/python bench/writeback.py --records 5000 [--fault-rate 0.1] [--database-url URL]

The emulator runs in its own process; the connector runs here. Prints calls per 1,000 writes
and write-back records/s for each path (and, with --fault-rate, the soak's counts), then one
JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from connector.mapping import load_mapping
from connector.outbox import OutboxWrite, dispatch, enqueue
from connector.salesforce import connect
from connector.settings import load_settings
from connector.store import make_engine, migrate

from _emulator import connector_env, emulator_process, token, write_config


def _session(info: dict[str, Any]) -> tuple[requests.Session, str]:
    s = requests.Session()
    s.verify = str(info["ca_bundle"])
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {token(info, 'admin')}"
    return s, f"{info['instance_url']}/services/data/v62.0"


def create_registrations(info: dict[str, Any], n: int) -> list[str]:
    """``n`` Submitted registrations, created as the admin user, 200 per call."""
    s, base = _session(info)
    q = s.get(f"{base}/query/", params={"q": "SELECT Id FROM Account WHERE IsPartner = true"},
              timeout=60).json()
    partner = q["records"][0]["Id"]
    ids: list[str] = []
    for start in range(0, n, 200):
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": "Deal_Registration__c"}, "Name": f"REG-{i}",
             "Partner__c": partner, "End_Customer_Name__c": f"Customer {i}",
             "Amount__c": 1000.0, "Status__c": "Submitted"}
            for i in range(start, min(n, start + 200))
        ]}
        rows = s.post(f"{base}/composite/sobjects", json=body, timeout=300).json()
        ids.extend(r["id"] for r in rows)
    return ids


def faults(info: dict[str, Any], rate: float) -> int:
    """Set the emulator's fault rate; returns how many faults it injected so far."""
    s, _ = _session(info)
    injected = int(s.get(f"{info['instance_url']}/_emulator/stats", timeout=60)
                   .json()["faults"]["injected"])
    s.post(f"{info['instance_url']}/_emulator/faults", json={"rate": rate, "seed": 7},
           timeout=60).raise_for_status()
    return injected


def run(label: str, engine: Any, client: Any, spec: Any, settings: Any, ids: list[str],
        reason: str) -> dict[str, Any]:
    """Queue one approval per id and dispatch until nothing is due; time and count it."""
    with engine.begin() as conn:
        enqueue(conn, [
            OutboxWrite(sobject="Deal_Registration__c", operation="update", sf_id=i,
                        fields={"Status__c": "Approved", "Decision_Reason__c": reason},
                        cause=f"{label}:{i}", entity="deal_registration")
            for i in ids
        ])
    calls0 = client.calls
    start = time.perf_counter()
    written = dead = 0
    for _ in range(5):
        report = dispatch((engine, client, spec, settings))
        written += report.written
        dead += report.dead
        if report.written == 0 and report.retry_later == 0:
            break
    elapsed = time.perf_counter() - start
    calls = client.calls - calls0
    return {
        "path": label, "records": len(ids), "written": written, "dead": dead, "calls": calls,
        "calls_per_1000": round(calls * 1000 / max(1, len(ids)), 1),
        "seconds": round(elapsed, 2), "records_per_s": round(written / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process("--seed", "demo") as info:
        db_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        cfg = write_config(Path(tmp) / "cfg")
        settings = load_settings(cfg, env=connector_env(info, db_url))
        engine = make_engine(db_url)
        migrate(engine)
        client = connect(settings.salesforce)
        client.limits()  # the budget guard's first look, outside the measurement
        spec = load_mapping(settings.mapping_path)
        ids = create_registrations(info, args.records)

        settings.outbox.bulk_threshold = args.records + 1
        results = [run("collections", engine, client, spec, settings, ids, "Certified")]
        settings.outbox.bulk_threshold = 1
        results.append(run("bulk", engine, client, spec, settings, ids, "Bulk approved"))
        if args.fault_rate > 0:
            settings.outbox.bulk_threshold = args.records + 1
            settings.outbox.retry_base_seconds = 0
            before = faults(info, args.fault_rate)
            soak = run("collections+faults", engine, client, spec, settings, ids, "Soaked")
            soak["faults_injected"] = faults(info, 0.0) - before
            results.append(soak)
    print(f"{'path':<20}{'records':>9}{'written':>9}{'calls':>7}{'calls/1000':>12}"
          f"{'records/s':>11}")
    for r in results:
        print(f"{r['path']:<20}{r['records']:>9}{r['written']:>9}{r['calls']:>7}"
              f"{r['calls_per_1000']:>12}{r['records_per_s']:>11}")
    print(json.dumps({"benchmark": "writeback", "results": results}))


if __name__ == "__main__":
    main()
