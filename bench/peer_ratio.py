"""Wall-time ratio: a full `sync --once` (every mapped object into SQLite) against
tap-salesforce 2.8.1 extracting Opportunity alone, on one emulated org.

    .venv/bin/python bench/peer_ratio.py [--records 20000] [--repeat 3]

One emulator (`emulator serve --seed demo --records N`: N + 60 opportunities) serves both. Each
round times, as a user would run them: `python -m connector sync --once` on a fresh SQLite store
(process start, migrations, backfill of all 11 objects: Bulk API 2.0 for the big one), and the
tap's extract (`tap-salesforce --config ... --properties ...`, REST, after its discover, which
is not timed), after ``--warmup`` untimed rounds of both (default 1). Prints one line per
round, then one JSON line with the median times, the ratio (ours / tap's: lower is better),
records per second for both, and the same for CPU seconds (user + system of each process;
steadier than wall time on a busy machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _emulator import connector_env, write_config  # noqa: E402


def _peer_module() -> Any:
    spec = importlib.util.spec_from_file_location("tap_bench", HERE / "peers" / "tap_salesforce.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _child_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_ours(
    info: dict[str, Any], work: Path, round_: int
) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds of `sync --once` into a new SQLite file, and its JSON summary."""
    cfg = write_config(work / f"ours-{round_}")
    db = work / f"ours-{round_}" / "prm.db"
    env = {**os.environ, **connector_env(info, f"sqlite:///{db}")}
    cpu0, t0 = _child_cpu(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "connector", "sync", "--once", "--json", "-c", str(cfg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    seconds, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if out.returncode != 0:
        raise SystemExit(f"sync --once failed: {out.stderr[-2000:]}")
    return seconds, cpu, json.loads(out.stdout)


def tap_setup(peer: Any, info: dict[str, Any], work: Path) -> tuple[list[str], dict[str, str]]:
    """The tap's config and catalog (discover run once, untimed); its command and env."""
    tap = peer.ensure_venv()
    shim = work / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "sitecustomize.py").write_text(peer.SHIM)
    config = {
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "refresh_token": info["users"]["integration"]["refresh_token"],
        "start_date": "2000-01-01T00:00:00Z",
        "api_type": "REST",
        "select_fields_by_default": True,
        "quota_percent_total": 95,
        "quota_percent_per_run": 95,
    }
    (work / "config.json").write_text(json.dumps(config))
    env = {
        **os.environ,
        "PYTHONPATH": str(shim),
        "TAP_SF_LOGIN_URL": info["login_url"],
        "REQUESTS_CA_BUNDLE": info["ca_bundle"],
    }
    disc = subprocess.run(
        [str(tap), "--config", str(work / "config.json"), "--discover"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if disc.returncode != 0:
        raise SystemExit(f"tap discover failed: {disc.stderr[-2000:]}")
    catalog = peer.select_stream(json.loads(disc.stdout), peer.STREAM)
    (work / "catalog.json").write_text(json.dumps(catalog))
    cmd = [str(tap), "--config", str(work / "config.json"), "--properties"]
    return [*cmd, str(work / "catalog.json")], env


def time_tap(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall and CPU seconds of the tap's extract, and the Opportunity records it emitted."""
    cpu0, t0 = _child_cpu(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    seconds, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if out.returncode != 0:
        raise SystemExit(f"tap sync failed: {out.stderr[-2000:]}")
    records = 0
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        records += msg.get("type") == "RECORD" and msg.get("stream") == "Opportunity"
    return seconds, cpu, records


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000, help="emulator --records N")
    ap.add_argument("--repeat", type=int, default=1, help="rounds (medians are reported)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed rounds of both first (the emulator's caches, the OS's file "
                         "cache), as hyperfine --warmup does")
    args = ap.parse_args()
    peer = _peer_module()
    proc, info = peer.start_emulator(args.records)
    ours: list[float] = []
    theirs: list[float] = []
    our_cpu: list[float] = []
    their_cpu: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="peer-ratio-") as tmp:
            work = Path(tmp)
            cmd, env = tap_setup(peer, info, work)
            rows = tap_records = 0
            for w in range(args.warmup):
                time_tap(cmd, env)
                time_ours(info, work, -1 - w)
            for i in range(args.repeat):
                tap_s, tap_c, tap_records = time_tap(cmd, env)
                our_s, our_c, summary = time_ours(info, work, i)
                rows = sum(int(o["seen"]) for o in summary["objects"])
                ours.append(our_s)
                theirs.append(tap_s)
                our_cpu.append(our_c)
                their_cpu.append(tap_c)
                print(
                    f"round {i + 1}: sync --once {our_s:.2f}s wall, {our_c:.2f}s CPU "
                    f"({rows} rows, all objects); tap-salesforce {tap_s:.2f}s wall, "
                    f"{tap_c:.2f}s CPU ({tap_records} Opportunity records)",
                    flush=True,
                )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    our_m, tap_m = statistics.median(ours), statistics.median(theirs)
    result = {
        "records_option": args.records,
        "rounds": args.repeat,
        "sync_once_seconds": round(our_m, 2),
        "sync_once_rows": rows,
        "sync_once_records_per_s": round(rows / our_m),
        "tap_seconds": round(tap_m, 2),
        "tap_records": tap_records,
        "tap_records_per_s": round(tap_records / tap_m),
        "ratio": round(our_m / tap_m, 3),
        "sync_once_cpu_seconds": round(statistics.median(our_cpu), 2),
        "tap_cpu_seconds": round(statistics.median(their_cpu), 2),
        "cpu_ratio": round(statistics.median(our_cpu) / statistics.median(their_cpu), 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
