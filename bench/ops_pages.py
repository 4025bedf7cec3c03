"""Page render times of the operations page over a large store, on SQLite (or PostgreSQL).

    .venv/bin/python bench/ops_pages.py [--changes 100000] [--dead 10000] [--runs 30]
                                        [--database-url postgresql+psycopg://...]

Builds the demo's store (`prm-connector demo`; with --database-url, an empty store there (a
schema of its own, dropped afterwards) with the demo's config), then seeds CHANGES
change-log rows (consumers left behind so the overview counts them) and DEAD
dead writes with a few Salesforce error codes, and renders every page RUNS times in-process
(Starlette's TestClient: routing, the store's queries, Jinja2), HTML and JSON. Prints p50/p95
per page, the plan of every SELECT each page ran (captured from the engine, explained with
the parameters it ran with; full scans flagged with the table's size) and one JSON line.
The issue's target is 1M change-log rows and 100k dead letters with
a p95 under 100 ms; pass --changes 1000000 --dead 100000 for that (seeding takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PAGES = ["/ops/", "/ops/runs", "/ops/outbox", "/ops/outbox?status=dead",
         "/ops/outbox?status=dead&error_code=FIELD_CUSTOM_VALIDATION_EXCEPTION",
         "/ops/outbox?search=0015g0000000001AAA", "/ops/dead", "/ops/decisions",
         "/ops/conflicts", "/ops/partners", "/ops/partners/1", "/ops/rules", "/ops/programs",
         "/ops/audit"]
CODES = ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "REQUIRED_FIELD_MISSING", "STRING_TOO_LONG",
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "DUPLICATE_VALUE")


def seed(engine: Any, changes: int, dead: int) -> None:
    from connector.outbox.queue import ITEMS
    from connector.store.bookkeeping import ChangeLog

    log = ChangeLog.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    batch = 20_000
    with engine.begin() as conn:
        first = int(conn.execute(text("SELECT coalesce(max(id), 0) FROM change_log")).scalar())
        for start in range(0, changes, batch):
            conn.execute(insert(log), [
                {"id": first + i + 1, "cycle_id": f"bench-{(first + i) // 1000}",
                 "entity": "deal", "sf_id": f"006{i:015d}", "local_id": i, "op": "updated",
                 "old": {"amount": 1.0}, "new": {"amount": 2.0}, "changed": ["amount"],
                 "origin": "human", "modstamp": now, "recorded_at": now, "source": "poll",
                 "echo": False}
                for i in range(start, min(changes, start + batch))])
        # a consumer at the start of the seeded rows (the demo's store has its own; an empty
        # PostgreSQL store none): the overview shows it CHANGES entries behind
        from connector.store.stream import commit_offset

        commit_offset(conn, "bench-behind", max(first, 1))
        for start in range(0, dead, batch):
            conn.execute(insert(ITEMS), [
                {"id": f"bench{i:027d}", "entity": "partner", "local_id": i % 20 + 1,
                 "sf_id": f"001{i:015d}", "sobject": "Account", "operation": "update",
                 "payload": {"fields": {"Partner_Tier__c": "Gold"}}, "status": "dead",
                 "attempts": 10, "last_error": f"rejected <{i}> & co",
                 "error_code": CODES[i % len(CODES)], "error_fields": ["Partner_Tier__c"],
                 "record_key": f"001{i:015d}", "created_at": now - timedelta(seconds=i),
                 "updated_at": now - timedelta(seconds=i)}
                for i in range(start, min(dead, start + batch))])


BIG = 10_000  # a full scan of a table this large is reported as a problem


def _scanned(dialect: str, line: str, sql: str, plan: list[str]) -> tuple[str, bool] | None:
    """The table a plan line scans and whether the scan reads it whole: SQLite's SCAN (of a
    table or a whole index; a SEARCH reads a range), PostgreSQL's Seq Scan; None for an indexed
    read. A SQLite scan in a statement with LIMIT and no sort for its ORDER BY stops at the
    limit (a walk in index order, a count bounded by LIMIT): reported, not as a full scan
    (with a selective WHERE it could still read more rows than the limit)."""
    words = line.replace("(", " ").split()
    if dialect == "sqlite" and words[:1] == ["SCAN"] and len(words) > 1:
        limited = " LIMIT " in sql and not any("TEMP B-TREE FOR ORDER BY" in p for p in plan)
        return words[1], not limited
    if dialect == "postgresql" and "Seq Scan on" in line:
        return line.split("Seq Scan on", 1)[1].split()[0], True
    return None


def explain(engine: Any, statements: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each statement's plan (with the parameters it ran with), the tables it reads whole and
    their sizes; on PostgreSQL also the rows the plan's nodes actually returned (EXPLAIN
    ANALYZE: the statements are the pages' reads)."""
    pg = engine.dialect.name == "postgresql"
    from sqlalchemy import inspect

    tables = set(inspect(engine).get_table_names())  # not a subquery's scan (anon_1)
    sizes: dict[str, int] = {}
    out = {}
    with engine.connect() as conn:
        for sql, params in statements.items():
            prefix = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " if pg \
                else "EXPLAIN QUERY PLAN "
            rows = conn.exec_driver_sql(prefix + sql, params).all()
            lines = [str(r[-1]).strip() for r in rows]
            full, limited = {}, {}
            for line in lines:
                got = _scanned(engine.dialect.name, line, sql, lines)
                if got is None or got[0] not in tables:
                    continue
                table = got[0]
                if table not in sizes:
                    sizes[table] = int(conn.exec_driver_sql(
                        f"SELECT count(*) FROM {table}").scalar_one())
                (full if got[1] else limited)[table] = sizes[table]
            out[sql] = {"plan": lines, "full_scans": full, "limited_scans": limited}
    return out


def action_statements(engine: Any) -> dict[str, Any]:
    """The page's actions' reads (not rendered by a GET): the bulk retry's bound."""
    from sqlalchemy import select

    from connector.outbox.admin import _where
    from connector.outbox.queue import ITEMS

    c = ITEMS.c
    stmt = _where(select(c.id), status="dead").where(c.updated_at <= datetime.now(UTC))
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    return {str(compiled): {} if engine.dialect.name == "postgresql" else ()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--dead", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server to run on (a new schema, dropped after)")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith("PRM_SF_")]:
        del os.environ[key]

    from starlette.testclient import TestClient
    from web.opsfixtures import copy_demo

    from connector.cli.common import store_runtime
    from connector.web import auth_of, source_of
    from connector.web.app import create_ops_app

    from clirunner import invoke

    work = Path(tempfile.mkdtemp(prefix="ops-bench-"))
    res = invoke("demo", "--dir", str(work / "demo"))
    assert res.exit_code == 0, res.stderr
    config = copy_demo(work / "demo", work / "ops")
    rt = store_runtime(config)
    schema = None
    if args.database_url:
        os.environ["PRM_TEST_DATABASE_URL"] = args.database_url
        from connector.store import make_engine, migrate

        from dbfixtures import _schema_url, drop_schema

        schema = f"ops_bench_{os.getpid()}"
        base = make_engine(args.database_url)
        with base.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        base.dispose()
        rt.engine.dispose()
        rt.engine = make_engine(_schema_url(schema))
        migrate(rt.engine)
    t0 = time.perf_counter()
    seed(rt.engine, args.changes, args.dead)
    seeded = time.perf_counter() - t0
    with rt.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    app = create_ops_app(source_of(rt), auth_of(rt), standalone=True)
    results: dict[str, dict[str, float]] = {}
    page_sql: dict[str, dict[str, Any]] = {}
    current: list[str] = []

    @event.listens_for(rt.engine, "before_cursor_execute")
    def _grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        if current and not executemany and statement.lstrip().upper().startswith("SELECT"):
            page_sql.setdefault(current[0], {}).setdefault(statement, parameters)

    with TestClient(app, base_url="http://127.0.0.1:8765", client=("127.0.0.1", 1)) as client:
        for path in PAGES:  # once each, untimed: the statements every page runs
            current[:] = [path]
            client.get(path, headers={"accept": "text/html"})
        current.clear()
        for path in PAGES:
            for accept in ("text/html", "application/json"):
                times = []
                for _ in range(args.runs):
                    start = time.perf_counter()
                    got = client.get(path, headers={"accept": accept})
                    times.append((time.perf_counter() - start) * 1000)
                    # an empty PostgreSQL store has no demo partner: its page answers 404
                    assert got.status_code == 200 or (schema and "partners/1" in path), (
                        path, got.status_code, got.text[:300])
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
                results[f"{path} {accept.split('/')[1]}"] = {
                    "p50_ms": round(statistics.median(times), 1), "p95_ms": round(p95, 1)}
    kind = rt.engine.dialect.name
    every: dict[str, Any] = {}
    for stmts in page_sql.values():
        every.update(stmts)
    actions = action_statements(rt.engine)
    every.update(actions)
    plans = explain(rt.engine, every)
    rt.close()
    if schema:
        drop_schema(schema)
    shutil.rmtree(work, ignore_errors=True)  # the demo's store and the seeded SQLite file
    width = max(len(k) for k in results)
    print(f"store: {kind}, {args.changes} change-log rows and {args.dead} dead writes seeded "
          f"in {seeded:.1f} s; {args.runs} renders a page")
    print(f"{'page':<{width}}  p50 ms  p95 ms")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['p50_ms']:6.1f}  {r['p95_ms']:6.1f}")
    print("query plans of every statement the pages ran (SQLite: SCAN reads a table or a "
          "whole index; PostgreSQL: Seq Scan; rows = PostgreSQL's actual rows per node):")
    big = []
    for path, stmts in [*page_sql.items(), ("(bulk retry)", actions)]:
        print(f"  {path}: {len(stmts)} statement(s)")
        for sql in stmts:
            got = plans[sql]
            flag = "".join(f" [FULL SCAN {t}: {n} rows]" for t, n in got["full_scans"].items())
            flag += "".join(f" [scan of {t} ({n} rows) up to its LIMIT]"
                            for t, n in got["limited_scans"].items())
            big += [f"{path}: {t} ({n} rows)" for t, n in got["full_scans"].items() if n >= BIG]
            print(f"    {' '.join(sql.split())[:140]}{flag}")
            print(f"      {'; '.join(got['plan'])[:400]}")
    print(f"full scans of tables of {BIG}+ rows: {big or 'none'}")
    print(json.dumps({"store": kind, "changes": args.changes, "dead": args.dead,
                      "runs": args.runs, "worst_p95_ms": max(r["p95_ms"] for r in results.values()),
                      "big_full_scans": big, "pages": results}))


if __name__ == "__main__":
    main()
