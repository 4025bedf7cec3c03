"""Emulator internals at scale: seeding N opportunities, and the poller's window query.

    .venv/bin/python bench/soql_window.py --records 100000

These used to be timing assertions in the test suite; timings belong here. Prints a table and
one JSON line (records/s for the seed, rows/s for the SystemModstamp window over N Accounts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "emulator" / "soql"))

from connector.emulator.seed import seed_records
from connector.emulator.soql import execute, parse

from soqldata import NOW, synthetic

WINDOW = (
    "SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp >= "
    "2026-01-01T02:00:00Z AND SystemModstamp <= 2026-01-02T02:00:00Z "
    "ORDER BY SystemModstamp, Id"
)


def main() -> None:
    """Time the seed and the window query; print records/s and rows/s."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    n = args.records

    start = time.perf_counter()
    seeded = sum(1 for s, _ in seed_records("demo", n, today=date(2026, 11, 22)).rows())
    seed_s = time.perf_counter() - start

    source = synthetic(n)
    query = parse(WINDOW)
    start = time.perf_counter()
    result = execute(query, source, now=NOW)
    window_s = time.perf_counter() - start

    out = {
        "records": n,
        "seed_rows": seeded,
        "seed_rows_per_s": round(seeded / seed_s),
        "window_rows_scanned_per_s": round(n / window_s),
        "window_rows_returned": result.total_size,
    }
    print(f"{'step':<32} {'rows':>9} {'rows/s':>12}")
    print(f"{'seed demo + N opportunities':<32} {seeded:>9} {out['seed_rows_per_s']:>12}")
    print(f"{'window query over N accounts':<32} {n:>9} {out['window_rows_scanned_per_s']:>12}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
