"""Registration pushes decided per second with 100,000 registrations in the store.

    .venv/bin/python bench/conflict_decisions.py [--registrations 100000] [--pushes 1000]
        [--database-url URL]

Seeds a migrated store (SQLite in a temporary folder unless ``--database-url`` names another,
e.g. an empty PostgreSQL schema) the way inbound sync does: 500 Active partners and
``--registrations`` deal registrations spread over 40,000 end customers. Then logs
``--pushes`` new registrations as pushed changes (half of them for a customer another partner
already holds) and runs the triggers consumer over them with the shipped triggers.yaml, whose
auto-approval rule reads ``conflict``. Prints:

- ``decided``: pushes decided per second by the consumer, end to end (facts, conflict check,
  CEL, firings, the approval or review written locally, outbox items, audit, offset), and
  the CPU milliseconds this process spent per decision (less sensitive to a loaded machine
  than the wall figure; a PostgreSQL server's own CPU is not in it) with the load average;
- ``conflict_check``: ``find_conflict`` calls per second alone, and the mean milliseconds;
- how many pushes were found in conflict (a sanity figure: about half).
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connector.mapping import load_mapping
from connector.store import make_engine, migrate
from connector.store.diffs import RecordDiff
from connector.store.records import RecordRow, upsert_records
from connector.store.stream import append_changes
from connector.triggers import loads_triggers, run_triggers
from connector.triggers.conflict import find_conflict

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
CUSTOMERS = 40_000
PARTNERS = 500
SUFFIXES = ("Inc.", "LLC", "GmbH", "Ltd", "", "Corp")


def customer(i: int) -> tuple[str, str]:
    """The end customer ``i``: a company name (with a legal suffix) and its domain."""
    return f"Customer {i:05d} {SUFFIXES[i % len(SUFFIXES)]}".strip(), f"customer{i}.example"


def seed(engine: object, registrations: int, rng: random.Random) -> list[int]:
    """Partners and registrations; returns the partners' local ids."""
    stamp = NOW - timedelta(days=30)
    with engine.begin() as conn:  # type: ignore[attr-defined]
        ids = upsert_records(conn, "partner", [
            RecordRow(f"001{i:015d}", {"name": f"Partner {i}", "is_partner": True,
                                       "status": "Active", "certifications": 2.0}, stamp)
            for i in range(PARTNERS)])
    partners = list(ids.values())
    statuses = ("Submitted", "Approved", "Pending Review", "Rejected", "Expired")
    for start in range(0, registrations, 5000):
        rows = []
        for i in range(start, min(start + 5000, registrations)):
            name, domain = customer(rng.randrange(CUSTOMERS))
            rows.append(RecordRow(f"a0R{i:015d}", {
                "name": f"REG-{i:06d}", "partner": rng.choice(partners),
                "end_customer_name": name, "end_customer_domain": domain,
                "amount": float(rng.randrange(1000, 200_000)), "status": rng.choice(statuses),
                "registered_date": (NOW - timedelta(days=rng.randrange(1, 80))).date(),
            }, stamp))
        with engine.begin() as conn:  # type: ignore[attr-defined]
            upsert_records(conn, "deal_registration", rows)
    return partners


def push(engine: object, pushes: int, partners: list[int], rng: random.Random) -> None:
    """Log ``pushes`` new Submitted registrations as changes from push."""
    for start in range(0, pushes, 100):
        diffs, rows = [], []
        for i in range(start, min(start + 100, pushes)):
            held = i % 2 == 0  # half for a customer someone may hold already
            name, domain = customer(rng.randrange(CUSTOMERS) if held else CUSTOMERS + i)
            values = {"name": f"PUSH-{i:05d}", "partner": rng.choice(partners),
                      "end_customer_name": name, "end_customer_domain": domain,
                      "amount": 50_000.0, "status": "Submitted",
                      "registered_date": NOW.date().isoformat()}
            rows.append((f"a0P{i:015d}", values))
        with engine.begin() as conn:  # type: ignore[attr-defined]
            typed = [RecordRow(sf, {**v, "registered_date": NOW.date()}, NOW) for sf, v in rows]
            ids = upsert_records(conn, "deal_registration", typed)
            for sf, v in rows:
                diffs.append(RecordDiff("deal_registration", sf, "created", None, v,
                                        tuple(v), "005PARTNER", NOW, ids[sf], False, "push"))
            append_changes(conn, diffs, cycle_id="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--pushes", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="conflict-bench-") as tmp:
        url = args.database_url or f"sqlite:///{tmp}/prm.db"
        engine = make_engine(url)
        migrate(engine)
        spec = load_mapping(ROOT / "config" / "mapping.yaml")
        rules = loads_triggers((ROOT / "config" / "triggers.yaml").read_text(), spec)
        started = time.perf_counter()
        partners = seed(engine, args.registrations, rng)
        print(f"seeded {args.registrations:,} registrations in "
              f"{time.perf_counter() - started:.1f} s ({engine.dialect.name})")
        run_triggers(engine, spec, rules, lambda: NOW)  # the seed logged nothing: a no-op
        push(engine, args.pushes, partners, rng)

        started, cpu = time.perf_counter(), time.process_time()
        report = run_triggers(engine, spec, rules, lambda: NOW)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"decided: {report.changes:,} pushes in {elapsed:.2f} s = "
              f"{report.changes / elapsed:,.0f} pushes/s (fired {report.fired:,}); "
              f"CPU {1000 * cpu / max(report.changes, 1):.2f} ms per decision "
              f"(this process; load average {os.getloadavg()[0]:.1f})")

        probes = [{"id": 10**9, "partner": partners[i % len(partners)],
                   "end_customer_name": customer(rng.randrange(CUSTOMERS))[0],
                   "end_customer_domain": customer(rng.randrange(CUSTOMERS))[1],
                   "registered_date": NOW.date()} for i in range(args.pushes)]
        found = 0
        started = time.perf_counter()
        with engine.connect() as conn:
            for probe in probes:
                found += find_conflict(conn, probe) is not None
        elapsed = time.perf_counter() - started
        print(f"conflict_check: {len(probes) / elapsed:,.0f} checks/s, "
              f"{1000 * elapsed / len(probes):.2f} ms each; {found:,} of {len(probes):,} "
              "in conflict")
        engine.dispose()


if __name__ == "__main__":
    main()
