"""The partner portal's write-back at volume: N partners change segments in one cycle.

    .venv/bin/python bench/portal_writeback.py --partners 10000 [--database-url URL]

The emulator runs in its own process (seed: empty); N Reseller partner Accounts in Canada are
created as the admin (outside the measurement), and the default config gets a held-out
segment on the country (emea-resellers) and an incentive for it. A first `sync --once` reads
the partners in and writes their eligibility; then every partner moves to Germany and one
measured `sync --once` enters each of them in the segment: the Account's Partner_Segments__c
and one Partner_Eligibility__c upsert each, by Collections or Bulk 2.0 by volume (the
outbox's `bulk_threshold`). A second move back to Canada measures the exits (Account updates
and deletes). Prints the write calls by endpoint and the calls per 1,000 partner changes,
then one JSON line.
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

from connector.service import open_runtime, sync_once

from _emulator import connector_env, emulator_process, token, write_config

SEGMENT = """\
  emea-resellers:
    description: Resellers and distributors in three EMEA countries.
    when: >
      partner.country in ['United Kingdom', 'Germany', 'France']
      && partner.type in ['Reseller', 'Distributor']
"""
INCENTIVE = """\
  emea-reseller-rebate:
    program: partner-network
    kind: rebate
    name: EMEA reseller rebate
    percent: 2
    eligible: {segments: [emea-resellers]}
"""


def _session(info: dict[str, Any]) -> tuple[requests.Session, str]:
    s = requests.Session()
    s.verify = str(info["ca_bundle"])
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {token(info, 'admin')}"
    return s, f"{info['instance_url']}/services/data/v62.0"


def _collections(s: requests.Session, base: str, method: str,
                 records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for start in range(0, len(records), 200):
        body = {"allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, **r} for r in records[start:start + 200]]}
        resp = s.request(method, f"{base}/composite/sobjects", json=body, timeout=300)
        resp.raise_for_status()
        out.extend(resp.json())
    return out


def create_partners(info: dict[str, Any], n: int) -> list[str]:
    """``n`` active Reseller partner Accounts in Canada (IsPartner is set by an update, as in
    a real org)."""
    s, base = _session(info)
    rows = _collections(s, base, "POST", [
        {"Name": f"Bench Partner {i:05d}", "Partner_Type__c": "Reseller",
         "Partner_Status__c": "Active", "BillingCountry": "Canada"} for i in range(n)])
    ids = [str(r["id"]) for r in rows]
    _collections(s, base, "PATCH", [{"Id": i, "IsPartner": True} for i in ids])
    return ids


def move(info: dict[str, Any], ids: list[str], country: str) -> None:
    """Every partner's BillingCountry to ``country`` (as the admin, outside the measurement)."""
    s, base = _session(info)
    _collections(s, base, "PATCH", [{"Id": i, "BillingCountry": country} for i in ids])


def _writes(info: dict[str, Any]) -> dict[str, int]:
    s, _ = _session(info)
    stats = s.get(f"{info['instance_url']}/_emulator/stats", timeout=60).json()
    return {k: int(v) for k, v in stats["by_endpoint"].items()
            if "composite" in k or "jobs" in k}


def rebates(info: dict[str, Any]) -> int:
    """Eligibility records of the segment's rebate in the org now (read as the admin)."""
    s, base = _session(info)
    q = "SELECT COUNT() FROM Partner_Eligibility__c WHERE Key__c = 'emea-reseller-rebate'"
    return int(s.get(f"{base}/query/", params={"q": q}, timeout=60).json()["totalSize"])


def measured_cycle(rt: Any, info: dict[str, Any], label: str, partners: int) -> dict[str, Any]:
    """One `sync --once`; the write calls it made by endpoint, per 1,000 partner changes."""
    before = _writes(info)
    calls0 = rt.api_calls()
    start = time.perf_counter()
    report = sync_once(rt)
    elapsed = time.perf_counter() - start
    after = _writes(info)
    by_endpoint = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    programs = report.stages.get("programs", {})
    outbox = report.stages.get("outbox", {})
    writes = sum(by_endpoint.values())
    return {
        "cycle": label, "partners": partners,
        "segment_events": int(programs.get("segment_events", 0)),
        "portal_writes_queued": int(programs.get("portal_writes", 0)),
        "collection_records": int(outbox.get("collection_records", 0)),
        "bulk_records": int(outbox.get("bulk_records", 0)),
        "dead": int(outbox.get("dead", 0)),
        "write_calls": writes, "write_calls_by_endpoint": by_endpoint,
        "write_calls_per_1000_changes": round(writes * 1000 / max(1, partners), 1),
        "api_calls": rt.api_calls() - calls0,
        "seconds": round(elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partners", type=int, default=10000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process("--seed", "empty") as info:
        db_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        cfg = write_config(Path(tmp) / "cfg")
        programs = cfg.parent / "programs.yaml"
        text = programs.read_text().replace("segments:\n", "segments:\n" + SEGMENT, 1)
        programs.write_text(text.replace("incentives:\n", "incentives:\n" + INCENTIVE, 1))
        ids = create_partners(info, args.partners)
        rt = open_runtime(cfg, env=connector_env(info, db_url))
        rt.settings.sync.signpost_skew_seconds = 0
        try:
            first = measured_cycle(rt, info, "backfill (eligibility of new partners)",
                                   args.partners)
            move(info, ids, "Germany")
            enter = measured_cycle(rt, info, "enter a segment", args.partners)
            enter["rebates_in_org_after"] = rebates(info)
            quiet = measured_cycle(rt, info, "quiet", 0)
            move(info, ids, "Canada")
            leave = measured_cycle(rt, info, "leave it", args.partners)
            leave["rebates_in_org_after"] = rebates(info)
        finally:
            rt.close()
    results = [first, enter, quiet, leave]
    print(f"{'cycle':<40}{'partners':>9}{'records':>9}{'write calls':>13}{'per 1000':>10}"
          f"{'api calls':>11}{'s':>7}")
    for r in results:
        records = r["collection_records"] + r["bulk_records"]
        print(f"{r['cycle']:<40}{r['partners']:>9}{records:>9}{r['write_calls']:>13}"
              f"{r['write_calls_per_1000_changes']:>10}{r['api_calls']:>11}{r['seconds']:>7}")
        print(f"    {r['write_calls_by_endpoint']}"
              + (f"; rebate records in the org after: {r['rebates_in_org_after']}"
                 if "rebates_in_org_after" in r else ""))
    print(json.dumps({"benchmark": "portal_writeback", "results": results}))


if __name__ == "__main__":
    main()
