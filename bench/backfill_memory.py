"""Peak RSS of a backfill of N opportunities (default 1,000,000), run as `prm-connector backfill`.

    .venv/bin/python bench/backfill_memory.py --records 1000000

The emulator and the connector each run in their own process; the connector's peak resident
set size comes from wait4() on its process. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _emulator import connector_env, emulator_process, env_with, write_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, emulator_process(
        "--seed", "demo", "--records", str(args.records)
    ) as info:
        db_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        cfg = write_config(Path(tmp))
        env = env_with(connector_env(info, db_url))
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "backfill", "--object", "deal", "--json",
             "-c", str(cfg)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - t0
        out = proc.stdout.read().decode() if proc.stdout else ""
        err = proc.stderr.read().decode() if proc.stderr else ""
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"backfill failed: {err[-2000:]}")
        summary = json.loads(out)
    rows = summary["objects"][0]["seen"]
    result = {
        "records": args.records,
        "rows_backfilled": rows,
        "mode": summary["objects"][0]["mode"],
        "seconds": round(elapsed, 1),
        "records_per_s": round(rows / elapsed),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }
    for k, v in result.items():
        print(f"{k:20} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
