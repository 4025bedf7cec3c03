"""Push latency: an Outbound Message (or a Change Data Capture event) from the emulator to the
change stored, and to the trigger's approval visible through the REST API, at several
registration rates.

    .venv/bin/python bench/push_latency.py [--rates 1,10,50] [--seconds 10] [--database-url URL]
        [--push outbound|cdc]

With ``--push cdc`` the daemon runs with ``sync.push: cdc`` (Change Data Capture over the
emulator's Pub/Sub API) and no Outbound Message is configured; "received" is then n/a.
The issue's figures: ``--push cdc --rates 1,100 --seconds 5`` (single changes, then a burst of
500 at 100 changes/s).

The emulator and the daemon (`prm-connector run --poll-interval 600`, so polling plays no
part) run in their own processes; this script submits deal registrations for an eligible
partner at each rate (open loop) and watches two moments for each one:

- stored: the change-log entry with source "push" (its recorded_at, from the store);
- visible: Status__c no longer "Submitted" when read back through the REST API (watched
  every ``--watch-ms``; the figure includes up to that much observation delay).

"visible" needs the triggers and outbox stages in this build; without them it stays n/a and
only "stored" is measured. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from connector.store import make_engine

from _emulator import connector_env, emulator_process, token, write_config


def percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


class Daemon:
    """`prm-connector run` in its own process, its JSON log lines collected."""

    def __init__(self, config: Path, env: dict[str, str], push: str = "outbound") -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "-c",
                str(config),
                "run",
                "--listen",
                "127.0.0.1:0",
                "--poll-interval",
                "600",
                "--push",
                push,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **env},
        )
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def wait(self, event: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if e.get("event") == event:
                    return e
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"the daemon never logged {event}: {self.events[-5:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def eligible_partner(s: requests.Session, base: str) -> str:
    """An Active partner with at least one certification (auto-approve's condition)."""
    q = "SELECT Id FROM Account WHERE Partner_Status__c = 'Active'"
    active = [
        r["Id"] for r in s.get(f"{base}/query/", params={"q": q}, timeout=60).json()["records"]
    ]
    q = "SELECT Partner__c FROM Partner_Certification__c"
    certs = s.get(f"{base}/query/", params={"q": q}, timeout=60).json()["records"]
    certified = {r["Partner__c"] for r in certs}
    chosen = [p for p in active if p in certified]
    if not chosen:
        raise SystemExit("the demo org has no active, certified partner")
    return chosen[0]


def _stamp(at: Any) -> float:
    when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def run_rate(
    rate: float,
    seconds: float,
    s: requests.Session,
    base: str,
    partner: str,
    engine: Any,
    watch_ms: int,
    label: str,
) -> dict[str, Any]:
    """Submit rate*seconds registrations at ``rate``/s; return latency figures."""
    n = max(5, int(rate * seconds))
    created: dict[str, float] = {}
    stored: dict[str, float] = {}
    received: dict[str, float] = {}
    visible: dict[str, tuple[float, str]] = {}
    lock = threading.Lock()
    done_creating = threading.Event()

    def create() -> None:
        start = time.time()
        for i in range(n):
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            t0 = time.time()
            resp = s.post(
                f"{base}/sobjects/Deal_Registration__c/",
                json={
                    "Name": f"Bench {label} {i}",
                    "Partner__c": partner,
                    "End_Customer_Name__c": f"Bench Customer {label}-{i}",
                    "End_Customer_Domain__c": f"bench-{label}-{i}.example.com",
                    "Product__c": "Platform",
                    "Amount__c": 1000.0,
                    "Status__c": "Submitted",
                    "Registered_Date__c": datetime.now(UTC).date().isoformat(),
                },
                timeout=60,
            )
            resp.raise_for_status()
            with lock:
                created[resp.json()["id"]] = t0
        done_creating.set()

    creator = threading.Thread(target=create)
    creator.start()
    deadline = time.time() + seconds + 60
    while time.time() < deadline:
        with lock:
            ids = list(created)
        waiting_store = [i for i in ids if i not in stored]
        if waiting_store:
            with engine.connect() as conn:
                rows = conn.execute(
                    text(
                        "SELECT sf_id, MIN(recorded_at) FROM change_log WHERE source = 'push' "
                        "AND entity = 'deal_registration' AND sf_id IN ("
                        + ",".join(f"'{i}'" for i in waiting_store)
                        + ") GROUP BY sf_id"
                    )
                ).all()
                got = conn.execute(
                    text(
                        "SELECT sf_id, MIN(received_at) FROM received_notification WHERE sf_id IN ("
                        + ",".join(f"'{i}'" for i in waiting_store)
                        + ") GROUP BY sf_id"
                    )
                ).all()
            for sf_id, at in rows:
                stored[sf_id] = _stamp(at)
            for sf_id, at in got:
                received.setdefault(sf_id, _stamp(at))
        waiting_visible = [i for i in ids if i not in visible]
        for part in range(0, len(waiting_visible), 200):
            chunk = waiting_visible[part : part + 200]
            q = (
                "SELECT Id, Status__c FROM Deal_Registration__c WHERE Id IN ("
                + ",".join(f"'{i}'" for i in chunk)
                + ")"
            )
            seen = time.time()
            for r in s.get(f"{base}/query/", params={"q": q}, timeout=60).json()["records"]:
                if r["Status__c"] != "Submitted":
                    visible[r["Id"]] = (seen, r["Status__c"])
        if (
            done_creating.is_set()
            and len(stored) == n
            and (len(visible) == n or (not visible and time.time() > max(created.values()) + 10))
        ):
            break
        time.sleep(watch_ms / 1000)
    creator.join()
    stored_lat = [stored[i] - created[i] for i in stored if i in created]
    received_lat = [received[i] - created[i] for i in received if i in created]
    visible_lat = [visible[i][0] - created[i] for i in visible if i in created]
    statuses: dict[str, int] = {}
    for _, status in visible.values():
        statuses[status] = statuses.get(status, 0) + 1

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 1)

    stamps = sorted(created.values())
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None
    return {
        "rate_per_s": rate,
        "achieved_rate_per_s": round(achieved, 1) if achieved else None,
        "registrations": n,
        "received_p50_ms": ms(percentile(received_lat, 0.5)),
        "received_p99_ms": ms(percentile(received_lat, 0.99)),
        "stored": len(stored_lat),
        "stored_p50_ms": ms(percentile(stored_lat, 0.5)),
        "stored_p99_ms": ms(percentile(stored_lat, 0.99)),
        "visible": len(visible_lat),
        "visible_p50_ms": ms(percentile(visible_lat, 0.5)),
        "visible_p99_ms": ms(percentile(visible_lat, 0.99)),
        "visible_mean_ms": ms(statistics.fmean(visible_lat)) if visible_lat else None,
        "decisions": statuses,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="1,10,50", help="registrations per second, comma-separated")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long each rate runs")
    ap.add_argument("--watch-ms", type=int, default=20, help="REST read-back interval")
    ap.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    ap.add_argument("--push", choices=("outbound", "cdc"), default="outbound",
                    help="the push source: Outbound Messages or Change Data Capture")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with (
        tempfile.TemporaryDirectory(prefix="prm-push-bench-") as tmp,
        emulator_process("--seed", "demo") as info,
    ):
        db_url = args.database_url or f"sqlite:///{tmp}/prm.db"
        config = write_config(Path(tmp))
        daemon = Daemon(config, connector_env(info, db_url), args.push)
        try:
            url = daemon.wait("daemon.listening")["url"]
            daemon.wait("daemon.sync_done")
            base = f"{info['instance_url']}/services/data/v62.0"
            s = requests.Session()
            s.verify = str(info["ca_bundle"])
            s.trust_env = False
            s.headers["Authorization"] = f"Bearer {token(info, 'admin')}"
            if args.push == "outbound":
                s.post(
                    f"{info['instance_url']}/_emulator/outbound",
                    json={
                        "sobject": "Deal_Registration__c",
                        "url": f"{url}/salesforce/outbound",
                    },
                    timeout=30,
                ).raise_for_status()
            else:
                daemon.wait("daemon.cdc_started")
            partner = eligible_partner(s, base)
            engine = make_engine(db_url)
            results = []
            for k, rate in enumerate(rates):
                results.append(
                    run_rate(rate, args.seconds, s, base, partner, engine, args.watch_ms, f"r{k}")
                )
        finally:
            daemon.stop()
    print(
        f"{'rate/s':>7} {'got':>5} {'n':>5} {'received p50':>13} {'p99':>8} "
        f"{'stored p50':>11} {'p99':>8} {'visible p50':>12} {'p99':>8}  decisions"
    )
    for r in results:

        def f(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0f} ms"

        print(
            f"{r['rate_per_s']:>7g} {r['achieved_rate_per_s'] or 0:>5g} {r['registrations']:>5} "
            f"{f(r['received_p50_ms']):>13} "
            f"{f(r['received_p99_ms']):>8} {f(r['stored_p50_ms']):>11} "
            f"{f(r['stored_p99_ms']):>8} {f(r['visible_p50_ms']):>12} "
            f"{f(r['visible_p99_ms']):>8}  {r['decisions'] or '-'}"
        )
    passes = [e for e in daemon.events if e.get("event") == "daemon.push_done"]
    if passes:
        notes = [sum(e["outcomes"].values()) for e in passes]
        secs = sorted(e["seconds"] for e in passes)
        print(
            f"daemon push passes: {len(passes)}, notifications per pass mean "
            f"{statistics.fmean(notes):.1f}, pass seconds p50 {secs[len(secs) // 2]:.3f} "
            f"max {secs[-1]:.3f}; load average {os.getloadavg()[0]:.1f}"
        )
    cdc = [e for e in daemon.events if e.get("event") == "daemon.cdc_done"]
    if cdc:
        per = [e["events"] for e in cdc]
        print(f"daemon cdc passes: {len(cdc)}, events per pass mean {statistics.fmean(per):.1f}, "
              f"max {max(per)}; load average {os.getloadavg()[0]:.1f}")
    print(json.dumps({"benchmark": "push_latency", "push": args.push, "poll_interval_s": 600,
                      "results": results}))


if __name__ == "__main__":
    main()
