"""CDC soak: many changes through Change Data Capture with injected gaps, an overflow, a daemon
SIGKILL and a corrupted replay id; the store must end equal to the org, each change once.

    .venv/bin/python bench/cdc_soak.py [--changes 10000] [--database-url URL]

The emulator (demo seed plus enough opportunities) and the daemon (`run --push cdc
--poll-interval 600`: polling plays no part unless CDC asks for it) run in their own
processes. The script changes Opportunity.Amount in sObject Collections calls of 200 records
(each record a value of its own), in rounds over every opportunity, and meanwhile:

- asks the emulator for GAP events for 3 transactions (the daemon re-reads their records);
- asks for one GAP_OVERFLOW (the daemon re-polls the object from the change's commit);
- waits until the store has caught up (figures "before_the_kill": seconds, events, gaps),
  then SIGKILLs the daemon, corrupts its stored replay id, changes the last round while it is
  down, and starts it again (it re-polls from its last committed change, then subscribes
  afresh).

Then it waits until the store's amounts equal the org's and prints: whether they do, the
seconds from the last change to equality, change-log entries that repeat a (record,
SystemModstamp) (must be 0), and the subscription's counters as `status --json` shows them.
Exits 1 when the store does not converge or a change was applied twice.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from push_latency import Daemon

from connector.store import make_engine

from _emulator import connector_env, emulator_process, token, write_config

V = "/services/data/v62.0"
TOPIC = "/data/OpportunityChangeEvent"


def org_amounts(s: requests.Session, instance: str) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    url = f"{instance}{V}/query?q=SELECT+Id,Amount+FROM+Opportunity"
    while url:
        body = s.get(url, timeout=120).json()
        out.update({r["Id"]: r["Amount"] for r in body["records"]})
        url = f"{instance}{body['nextRecordsUrl']}" if not body["done"] else ""
    return out


def store_amounts(engine: Any) -> dict[str, float | None]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sf_id, amount FROM deal WHERE NOT is_deleted"))
        return {sf_id: amount for sf_id, amount in rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=10_000)
    ap.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    args = ap.parse_args()
    per_round = 2000
    rounds = max(1, args.changes // per_round)
    with (
        tempfile.TemporaryDirectory(prefix="prm-cdc-soak-") as tmp,
        emulator_process("--seed", "demo", "--records", str(per_round)) as info,
    ):
        db_url = args.database_url or f"sqlite:///{tmp}/prm.db"
        config = write_config(Path(tmp))
        config.write_text(
            config.read_text().replace("  push: outbound", "  push: cdc")
        )
        env = connector_env(info, db_url)
        instance = info["instance_url"]
        s = requests.Session()
        s.verify = str(info["ca_bundle"])
        s.trust_env = False
        s.headers["Authorization"] = f"Bearer {token(info, 'admin')}"
        engine = make_engine(db_url)
        daemon = first = Daemon(config, env, "cdc")
        daemon.wait("daemon.sync_done", timeout=600)
        daemon.wait("daemon.cdc_started")
        ids = sorted(org_amounts(s, instance))[:per_round]
        changes = 0

        def faults(**settings: Any) -> None:
            s.post(f"{instance}/_emulator/faults", json={"pubsub": settings},
                   timeout=30).raise_for_status()

        def converge(timeout: float = 300) -> bool:
            org = org_amounts(s, instance)
            deadline = time.time() + timeout
            while time.time() < deadline:
                if store_amounts(engine) == org:
                    return True
                time.sleep(0.5)
            return False

        def counters() -> dict[str, Any]:
            with engine.connect() as conn:
                row = conn.execute(text(
                    "SELECT events, gaps, repolls FROM cdc_subscription WHERE topic = :t"
                ), {"t": TOPIC}).first()
            return dict(row._mapping) if row is not None else {}

        last_change = time.time()
        live: dict[str, Any] = {}
        for r in range(rounds):
            if r == rounds - 1 and rounds > 1:  # the last round while the daemon is down
                live["changes"] = changes
                live["caught_up"] = converge()
                live["seconds_to_equal"] = round(time.time() - last_change, 1)
                # every event consumed too (re-reads make the store equal the org before the
                # last events are applied: those find nothing new)
                seen, still = counters(), time.time()
                while time.time() - still < 3 and time.time() - last_change < 300:
                    time.sleep(0.5)
                    now = counters()
                    if now != seen:
                        seen, still = now, time.time()
                live["seconds_to_all_events"] = round(still - last_change, 1)
                live.update(seen)
                daemon.proc.send_signal(signal.SIGKILL)
                daemon.proc.wait(30)
                with engine.begin() as conn:
                    conn.execute(
                        text("UPDATE cdc_subscription SET replay_id = :bad WHERE topic = :t"),
                        {"bad": "AAAAAAAAAAEAAAAAAAAAAA==", "t": TOPIC},
                    )
            for b in range(0, len(ids), 200):
                if r == 1 and b == 600:
                    faults(gap_transactions=3)
                if r == min(2, rounds - 1) and b == 1000:
                    faults(overflow_transactions=1)
                chunk = ids[b : b + 200]
                resp = s.patch(f"{instance}{V}/composite/sobjects", json={"records": [
                    {"attributes": {"type": "Opportunity"}, "id": rid,
                     "Amount": 100_000 * (r + 1) + i + 0.25}
                    for i, rid in enumerate(chunk, start=b)
                ]}, timeout=120)
                resp.raise_for_status()
                changes += len(chunk)
                last_change = time.time()
            if r == rounds - 1 and rounds > 1:
                daemon = Daemon(config, env, "cdc")
        equal = converge()
        settled = time.time() - last_change
        with engine.connect() as conn:
            repeats = conn.execute(text(
                "SELECT COUNT(*) FROM (SELECT sf_id, modstamp FROM change_log WHERE entity = "
                "'deal' AND op = 'updated' GROUP BY sf_id, modstamp HAVING COUNT(*) > 1) x"
            )).scalar_one()
        status = subprocess.run(
            [sys.executable, "-m", "connector", "-c", str(config), "status", "--json"],
            capture_output=True, text=True, env={**os.environ, **env}, timeout=120,
        )
        cdc = json.loads(status.stdout)["cdc"] if status.returncode == 0 else status.stderr
        daemon.stop()
        if os.environ.get("CDC_SOAK_LOG"):
            Path(os.environ["CDC_SOAK_LOG"]).write_text(
                "\n".join(json.dumps(e) for e in first.events + daemon.events)
            )
    result = {
        "benchmark": "cdc_soak",
        "changes": changes,
        "store_equals_org": equal,
        "seconds_from_last_change_to_equal": round(settled, 1) if equal else None,
        "repeated_change_log_entries": repeats,
        "before_the_kill": live,
        "cdc": cdc,
        "load_average": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result))
    return 0 if equal and repeats == 0 and live.get("caught_up", True) else 1


if __name__ == "__main__":
    sys.exit(main())
