"""Segment preview and partner eligibility over N partners on SQLite.

    .venv/bin/python bench/segments_preview.py [--partners 10000] [--database-url URL]

Seeds N partners with types, countries, won deals, certifications, step completions and ledger
rows, refreshes every segment once, then times `segments preview` (the configured definition
and a draft) and `partner eligible` for a sample of partners, through the same functions the
CLI calls; then both commands end to end as a user runs them (a new process each: start-up,
config, store, query, output). Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from connector.programs import load_programs
from connector.programs.facts import COMPLETION, ENROLMENT, LEDGER
from connector.programs.operations import refresh_segments
from connector.programs.views import eligibility, segment_preview
from connector.store import make_engine, migrate
from connector.store.models import entity_table

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TYPES = ("Reseller", "Distributor", "Referral", "Alliance", "Service Provider", "MSP")
COUNTRIES = ("United Kingdom", "Germany", "France", "Netherlands", "Brazil", "United States",
             "Japan", "India")


def seed(url: str, n: int, spec: Any) -> None:
    """N partners, ~2 won deals, ~1 certification, a few steps and ledger rows each."""
    rnd = random.Random(7)
    engine = make_engine(url)
    migrate(engine)
    steps = list(spec.steps.values())
    partners, deals, certs, done, enrolled, ledger = [], [], [], [], [], []
    for i in range(1, n + 1):
        partners.append({"id": i, "name": f"Partner {i:05d}", "sf_id": f"001{i:015d}",
                         "status": "Active", "is_deleted": False, "created_at": NOW,
                         "updated_at": NOW, "partner_type": TYPES[i % len(TYPES)],
                         "billing_country": COUNTRIES[i % len(COUNTRIES)],
                         "industry": "Technology"})
        for _ in range(rnd.randint(0, 4)):
            close = date(2026, 11, 1) - timedelta(days=rnd.randint(0, 420))
            deals.append({"name": "d", "partner": i, "amount": rnd.choice([5e3, 5e4, 2e5]),
                          "stage": "Closed Won", "close_date": close, "is_closed": True,
                          "is_won": True, "is_deleted": False, "created_at": NOW,
                          "updated_at": NOW})
        for k in range(rnd.randint(0, 3)):
            certs.append({"name": rnd.choice(["Cloud Fundamentals", "Cloud Architect",
                                              "Security"]), "partner": i,
                          "prm_key": f"b-{i}-{k}", "is_deleted": False,
                          "created_at": NOW, "updated_at": NOW})
        for s in rnd.sample(steps, rnd.randint(0, 4)):
            done.append({"partner_id": i, "track": s.track, "step": s.id, "completed_at": NOW,
                         "source": "local", "cause": "bench"})
            ledger.append({"partner_id": i, "points": s.points, "reason": s.id,
                           "cause": "bench", "awarded_at": NOW,
                           "award_key": f"step|{i}|{s.id}"})
        enrolled.append({"partner_id": i, "track": "cloud-technical", "enrolled_at": NOW,
                         "source": "auto", "cause": "bench"})
    with engine.begin() as conn:
        conn.execute(insert(entity_table("partner")), partners)
        conn.execute(insert(entity_table("deal")), deals)
        conn.execute(insert(entity_table("certification")), certs)
        conn.execute(insert(COMPLETION), done)
        conn.execute(insert(ENROLMENT), enrolled)
        conn.execute(insert(LEDGER), ledger)
    with engine.begin() as conn:
        refresh_segments(conn, spec, NOW)
    engine.dispose()


def timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeat`` calls, and the last result.

    CPU time is printed too: on a shared, loaded machine wall time mostly measures the queue.
    """
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), result


def cli_seconds(url: str, tmp: Path, args: list[str], repeat: int) -> float:
    """Median wall seconds of `prm-connector ARGS` in a new process against the bench store."""
    from connector.cli.config_cmds import write_defaults

    cfg = tmp / "cfg"
    if not (cfg / "connector.yaml").exists():
        write_defaults(cfg)
    env = {**os.environ, "PRM_DATABASE_URL": url, "PRM_SF_LOGIN_URL": "https://127.0.0.1:9",
           "PRM_SF_USERNAME": "u", "PRM_SF_PASSWORD": "p", "PRM_SF_CLIENT_ID": "c",
           "PRM_SF_CLIENT_SECRET": "s"}
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "connector", *args, "--json", "-c",
                        str(cfg / "connector.yaml")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def main() -> None:
    """Seed, then time the previews and eligibility lookups."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=10000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    spec = load_programs(ROOT / "connector" / "defaults" / "programs.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        seed(url, args.partners, spec)
        seeded = time.perf_counter() - t0
        engine = make_engine(url)
        with engine.connect() as conn:
            current, current_cpu, cur = timed(
                lambda: segment_preview(conn, spec, "emea-cloud-growth", NOW), args.repeat)
            draft, draft_cpu, dr = timed(lambda: segment_preview(
                conn, spec, "emea-cloud-growth", NOW,
                when="partner.country in ['United Kingdom', 'Germany'] "
                     "&& partner.closed_won_trailing_4q >= 100000.0"), args.repeat)
            sample = random.Random(1).sample(range(1, args.partners + 1), 50)
            t1, c1 = time.perf_counter(), time.process_time()
            for pid in sample:
                eligibility(conn, spec, pid, NOW)
            per_partner = (time.perf_counter() - t1) / len(sample)
            per_partner_cpu = (time.process_time() - c1) / len(sample)
        engine.dispose()
        cli_preview = cli_seconds(url, Path(tmp), ["segments", "preview", "emea-cloud-growth"],
                                  args.repeat)
        cli_eligible = cli_seconds(url, Path(tmp), ["partner", "eligible", str(sample[0])],
                                   args.repeat)
    rows = [
        ("seed + refresh all segments", seeded, float("nan"), ""),
        ("segments preview (current definition)", current, current_cpu,
         f"{cur['would_be_members']} would be members, {len(cur['members'])} are"),
        ("segments preview (draft --when)", draft, draft_cpu,
         f"enter {len(dr['enter'])}, leave {len(dr['leave'])}"),
        ("partner eligible (one partner, mean of 50)", per_partner, per_partner_cpu, ""),
        ("`segments preview` command, end to end", cli_preview, float("nan"), "new process"),
        ("`partner eligible` command, end to end", cli_eligible, float("nan"), "new process"),
    ]
    print(f"{args.partners} partners on {url.split(':', 1)[0]}  (wall ms / cpu ms)")
    for label, secs, cpu, note in rows:
        print(f"  {label:<45} {secs * 1000:9.1f} {cpu * 1000:9.1f}  {note}")
    print(f"  preview throughput: {args.partners / draft:,.0f} partners/s")
    print(json.dumps({"partners": args.partners, "preview_s": round(current, 4),
                      "preview_cpu_s": round(current_cpu, 4),
                      "preview_draft_s": round(draft, 4),
                      "preview_draft_cpu_s": round(draft_cpu, 4),
                      "eligible_one_partner_s": round(per_partner, 5),
                      "cli_preview_s": round(cli_preview, 3),
                      "cli_eligible_s": round(cli_eligible, 3),
                      "preview_partners_per_s": round(args.partners / draft)}))


if __name__ == "__main__":
    sys.exit(main())
