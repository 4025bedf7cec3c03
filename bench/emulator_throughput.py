"""Emulator throughput: records/s served to unmodified simple-salesforce.

    .venv/bin/python bench/emulator_throughput.py --records 100000

The emulator runs in its own process. Measures `query_all_iter` over every Opportunity and
sObject Collection updates (PATCH composite/sobjects, 200 records per call). Prints a table
and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests
from simple_salesforce import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _emulator import emulator_process, token


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--updates", type=int, default=20_000)
    args = ap.parse_args()
    with emulator_process("--seed", "demo", "--records", str(args.records)) as info:
        os.environ["REQUESTS_CA_BUNDLE"] = info["ca_bundle"]  # the documented client setup
        session = requests.Session()
        sf = Salesforce(instance_url=info["instance_url"], session_id=token(info, "integration"),
                        session=session, version="62.0")
        t0 = time.perf_counter()
        ids = [r["Id"] for r in sf.query_all_iter(
            "SELECT Id, Name, Amount, StageName, CloseDate, PartnerAccountId, SystemModstamp "
            "FROM Opportunity")]
        query_s = time.perf_counter() - t0

        todo = ids[: args.updates]
        t0 = time.perf_counter()
        for i in range(0, len(todo), 200):
            batch = todo[i : i + 200]
            results = sf.restful("composite/sobjects", method="PATCH", json={"records": [
                {"attributes": {"type": "Opportunity"}, "id": rid, "Amount": float(n)}
                for n, rid in enumerate(batch)
            ]})
            assert all(r["success"] for r in results)
        update_s = time.perf_counter() - t0
    result = {
        "records": len(ids),
        "query_all_iter_seconds": round(query_s, 2),
        "query_records_per_s": round(len(ids) / query_s),
        "collection_updates": len(todo),
        "collection_update_seconds": round(update_s, 2),
        "collection_updates_per_s": round(len(todo) / update_s),
    }
    for k, v in result.items():
        print(f"{k:28} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
