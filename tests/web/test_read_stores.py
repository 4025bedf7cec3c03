"""The page's outbox, dead-letter, runs and audit queries on SQLite and PostgreSQL: filters,
paging, the bulk retry's bound, grouping by error code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert

from connector.outbox.admin import matching_ids
from connector.outbox.queue import ITEMS
from connector.store import repo
from connector.web import read

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(engine: Engine) -> None:
    rows: list[dict[str, Any]] = []
    for i in range(12):
        dead = i % 3 != 0
        rows.append({
            "id": f"{i:02d}" + "a" * 30, "entity": "partner", "local_id": 100 + i,
            "sf_id": f"001{i:015d}", "sobject": "Account" if i % 2 else "Task",
            "operation": "update", "payload": {"fields": {"Name": f"n{i}"}},
            "status": "dead" if dead else "done", "attempts": 3,
            "error_code": ("STRING_TOO_LONG" if i % 2 else "DUPLICATE_VALUE") if dead else None,
            "last_error": f"message {i}" if dead else None, "error_fields": ["Name"],
            "record_key": f"001{i:015d}", "created_at": T0,
            # two items share each instant: paging must still show each once
            "updated_at": T0 + timedelta(minutes=i // 2),
        })
    with engine.begin() as conn:
        conn.execute(insert(ITEMS), rows)
        for n in range(5):
            repo.start_sync_run(conn, f"run-{n}", "sync" if n % 2 else "backfill",
                                started_at=T0 + timedelta(hours=n))
        for n in range(7):
            read.record_action(conn, who="Dana", action="drop", target=f"item-{n}",
                               reason=f"reason {n}", at=T0 + timedelta(minutes=n))


def test_outbox_filters_paging_and_groups(engine: Engine) -> None:
    _seed(engine)
    with engine.connect() as conn:
        everything = read.outbox_page(conn, {}, limit=100)["items"]
        assert len(everything) == 12
        seen, after = [], None
        while True:
            page = read.outbox_page(conn, {}, limit=5, after=after)
            seen += [i["id"] for i in page["items"]]
            after = page["next"]
            if after is None:
                break
        assert seen == [i["id"] for i in everything]
        dead = read.outbox_page(conn, {"status": "dead", "sobject": "Account"}, limit=100)
        assert dead["matching"] == len(dead["items"]) == 4
        assert {i["error_code"] for i in dead["items"]} == {"STRING_TOO_LONG"}
        by_local = read.outbox_page(conn, {"search": "104"}, limit=100)["items"]
        assert [i["id"] for i in by_local] == ["04" + "a" * 30]
        by_prefix = read.outbox_page(conn, {"search": "07aa"}, limit=100)["items"]
        assert [i["id"] for i in by_prefix] == ["07" + "a" * 30]
        groups = read.dead_groups(conn)
        assert [(g["code"], g["count"]) for g in groups] == [
            ("DUPLICATE_VALUE", 4), ("STRING_TOO_LONG", 4)]
        assert groups[0]["message"] == "message 10"  # the newest of its code
        # the bulk retry's bound: what was dead when the page showed T0 + 2 min
        bound = matching_ids(conn, status="dead", upto=T0 + timedelta(minutes=2))
        assert sorted(bound) == sorted(f"{i:02d}" + "a" * 30 for i in (1, 2, 4, 5))


def test_runs_and_audit_page_newest_first(engine: Engine) -> None:
    _seed(engine)
    with engine.connect() as conn:
        first = read.runs_page(conn, limit=2)
        assert [r["id"] for r in first["runs"]] == ["run-4", "run-3"]
        second = read.runs_page(conn, limit=2, before=first["next"])
        assert [r["id"] for r in second["runs"]] == ["run-2", "run-1"]
        last = read.runs_page(conn, limit=2, before=second["next"])
        assert [r["id"] for r in last["runs"]] == ["run-0"] and last["next"] is None
        assert [r["id"] for r in read.runs_page(conn, kind="sync")["runs"]] == ["run-3", "run-1"]
        audit = read.audit_log(conn, limit=3)
        assert audit["total"] == 7 and [a["target"] for a in audit["actions"]] == [
            "item-6", "item-5", "item-4"]
        rest = read.audit_log(conn, limit=10, before=audit["next"])
        assert [a["target"] for a in rest["actions"]] == [f"item-{n}" for n in (3, 2, 1, 0)]
        assert rest["next"] is None


def test_pages_render_on_each_store(engine: Engine, demo_store: Path) -> None:
    """The page itself over this store (the demo's config, an otherwise empty store)."""
    import os

    from starlette.testclient import TestClient

    from connector.cli.common import load_config
    from connector.web import OpsAuth
    from connector.web.app import create_ops_app
    from web.opsfixtures import NO_SF_ENV

    _seed(engine)
    saved = dict(os.environ)
    for key in NO_SF_ENV:
        os.environ.pop(key, None)
    try:
        settings, spec = load_config(demo_store / "connector.yaml", store_only=True)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    src = read.OpsSource(settings=settings, spec=spec, engine=engine)
    app = create_ops_app(src, OpsAuth(token=None), standalone=True)
    with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 1)) as client:
        for path in ("/ops/", "/ops/runs", "/ops/outbox?status=dead&sobject=Account",
                     "/ops/dead", "/ops/decisions", "/ops/conflicts", "/ops/partners",
                     "/ops/rules", "/ops/audit"):
            assert client.get(path).status_code == 200, path
        assert "message 11" in client.get("/ops/outbox?status=dead").text


def test_firings_per_day(engine: Engine) -> None:
    from connector.triggers.audit import AuditRow, firings_by_day, write_audit

    def row(outcome: str) -> AuditRow:
        return AuditRow("r1", "deal", 1, None, None, outcome, "live", "why")

    with engine.begin() as conn:
        write_audit(conn, [row("fired"), row("fired"), row("not_fired")], run_id=None,
                    at=T0 + timedelta(hours=6))
        write_audit(conn, [row("fired")], run_id=None, at=T0 + timedelta(days=2))
        write_audit(conn, [row("fired")], run_id=None, at=T0 - timedelta(days=1))
    with engine.connect() as conn:
        assert firings_by_day(conn, "r1", T0) == {"2026-03-01": 2, "2026-03-03": 1}
        assert firings_by_day(conn, "other", T0) == {}
