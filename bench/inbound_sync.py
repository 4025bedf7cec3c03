"""Inbound throughput: backfill N opportunities, change all N as another user, poll them.

    .venv/bin/python bench/inbound_sync.py --records 100000 [--database-url URL]

The emulator runs in its own process; the connector runs here. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

from connector.mapping import load_mapping
from connector.service import Runtime
from connector.settings import load_settings
from connector.store import make_engine, migrate
from connector.sync.cycle import run_cycle

from _emulator import connector_env, emulator_process, token, write_config


def change_all(info: dict[str, object], n_expected: int) -> tuple[int, float]:
    """Update every Opportunity's Amount as the admin user, 200 per collection call."""
    tok = token(info, "admin")  # type: ignore[arg-type]
    base = f"{info['instance_url']}/services/data/v62.0"
    s = requests.Session()
    s.verify = str(info["ca_bundle"])
    s.trust_env = False  # REQUESTS_CA_BUNDLE must not override the emulator CA
    s.headers["Authorization"] = f"Bearer {tok}"
    ids: list[str] = []
    url = f"{base}/query/?q=SELECT Id FROM Opportunity"
    while url:
        page = s.get(url, timeout=120).json()
        ids.extend(r["Id"] for r in page["records"])
        nxt = page.get("nextRecordsUrl")
        url = f"{info['instance_url']}{nxt}" if nxt else ""
    start = time.perf_counter()
    for i in range(0, len(ids), 200):
        batch = ids[i : i + 200]
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": "Opportunity"}, "id": rid, "Amount": float(i + j)}
            for j, rid in enumerate(batch)
        ]}
        resp = s.patch(f"{base}/composite/sobjects", json=body, timeout=120)
        resp.raise_for_status()
    return len(ids), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process(
        "--seed", "demo", "--records", str(args.records)
    ) as info:
        db_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        cfg = write_config(Path(tmp))
        settings = load_settings(cfg, env=connector_env(info, db_url))
        engine = make_engine(settings.database.url)
        migrate(engine)
        ctx = Runtime(settings, load_mapping(settings.mapping_path), engine).context()

        t0 = time.perf_counter()
        runs = run_cycle(ctx, keep_diffs=False)
        backfill_s = time.perf_counter() - t0
        deals = next(r for r in runs if r.entity == "deal")

        changed, update_s = change_all(info, deals.seen)
        # Rows younger than the signpost (now - skew) belong to the next cycle: wait it out so
        # the timed poll reads every changed row.
        time.sleep(settings.sync.signpost_skew_seconds + 0.5)

        t0 = time.perf_counter()
        runs = run_cycle(ctx, keep_diffs=False)
        poll_s = time.perf_counter() - t0
        polled = next(r for r in runs if r.entity == "deal")

    result = {
        "records": args.records,
        "database": db_url.split(":", 1)[0],
        "backfill_rows": deals.seen,
        "backfill_mode": deals.mode,
        "backfill_seconds": round(backfill_s, 2),
        "backfill_records_per_s": round(deals.seen / backfill_s),
        "emulator_collection_updates_per_s": round(changed / update_s),
        "changed_rows_polled": polled.seen,
        "changes_applied": polled.applied,
        "poll_seconds": round(poll_s, 2),
        "inbound_changed_records_per_s": round(polled.seen / poll_s),
    }
    for k, v in result.items():
        print(f"{k:36} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
