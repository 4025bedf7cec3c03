"""Inbound sync against the emulator over HTTPS, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from connector.emulator.testing import EmulatorHandle
from connector.store import bookkeeping, models, read_connection
from connector.sync.cycle import run_cycle

from .orgtools import chunks, compare_entity
from prmfixtures import settings_for, sf_client, sync_context

pytestmark = pytest.mark.slow


def test_backfill_then_edits_deletes_and_creates_leave_the_store_equal_to_the_org(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 3,000 opportunities backfilled (over a bulk threshold of 2,000), when another user
    edits 1,000 of them in 200-record collections, deletes 50 and creates 100, then one sync
    cycle makes the store equal to the org field by field, and an idle cycle costs about one
    call per object."""
    engine, url = store
    emulator.reset(seed="demo", records=3000)
    # the emulator stamps a change as it commits: no late commits, so no signpost skew
    settings = settings_for(
        emulator, url, tmp_path, signpost_skew_seconds=0, bulk_threshold=2000
    )
    ctx = sync_context(settings, engine)

    first = run_cycle(ctx, keep_diffs=False)
    deal_run = next(r for r in first if r.entity == "deal")
    assert deal_run.mode == "backfill-bulk"
    assert deal_run.seen > 3000

    admin = sf_client(emulator)
    ids = [r["Id"] for r in admin.query_all_iter("SELECT Id FROM Opportunity ORDER BY Id")]
    for batch in chunks(ids[:1000], 200):
        body = {
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Opportunity"},
                    "id": i,
                    "Amount": 1000.0 + n,
                    "StageName": "Closed Won" if n % 3 == 0 else "Negotiation",
                }
                for n, i in enumerate(batch)
            ],
        }
        results = admin.restful("composite/sobjects", method="PATCH", json=body)
        assert all(r["success"] for r in results)
    gone = ids[-50:]
    admin.restful(f"composite/sobjects?ids={','.join(gone)}&allOrNone=false", method="DELETE")
    partner = admin.query("SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")["records"][0]
    new = [
        {
            "attributes": {"type": "Opportunity"},
            "Name": f"New deal {n}",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "Amount": 50.0 * n,
            "PartnerAccountId": partner["Id"],
        }
        for n in range(100)
    ]
    results = admin.restful("composite/sobjects", method="POST", json={"records": new})
    assert all(r["success"] for r in results)

    second = run_cycle(ctx, keep_diffs=True)
    deal_diffs = next(r for r in second if r.entity == "deal").diffs
    ops = {op: sum(1 for d in deal_diffs if d.op == op) for op in ("created", "updated", "deleted")}
    assert ops == {"created": 100, "updated": 1000, "deleted": 50}
    assert {d.origin for d in deal_diffs if d.op != "deleted"} == {emulator.users["admin"]["id"]}

    for name, entity in ctx.spec.entities.items():
        assert compare_entity(engine, admin, entity) == [], name
    with read_connection(engine) as conn:
        table = models.entity_table("deal")
        dupes = conn.execute(
            select(func.count()).select_from(table).group_by(table.c.sf_id).having(func.count() > 1)
        ).all()
    assert dupes == []

    before = emulator.stats()["api_calls"]
    idle = run_cycle(ctx, keep_diffs=True)
    spent = emulator.stats()["api_calls"] - before
    assert all(not r.diffs for r in idle)
    assert spent <= len(ctx.spec.entities) + 1


def test_a_timestamp_tie_split_across_pages_is_read_whole(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 500 edits sharing one SystemModstamp and 200-row pages, every edit is applied once,
    even when the cycle is cut between pages (the next cycle re-reads the tie inclusively)."""
    engine, url = store
    emulator.reset(seed="demo", records=1000)
    settings = settings_for(emulator, url, tmp_path, page_size=200, signpost_skew_seconds=0)
    ctx = sync_context(settings, engine)
    run_cycle(ctx, keep_diffs=False)
    admin = sf_client(emulator)
    ids = [r["Id"] for r in admin.query_all_iter("SELECT Id FROM Opportunity ORDER BY Id")][:500]
    emulator.call("POST", "/_emulator/clock", json={"freeze": True})
    try:
        for batch in chunks(ids, 200):
            admin.restful(
                "composite/sobjects",
                method="PATCH",
                json={
                    "records": [
                        {"attributes": {"type": "Opportunity"}, "id": i, "Amount": 7.0}
                        for i in batch
                    ]
                },
            )
    finally:
        emulator.call("POST", "/_emulator/clock", json={"freeze": False})
    stamps = {
        r["SystemModstamp"]
        for r in admin.query_all_iter("SELECT SystemModstamp FROM Opportunity WHERE Amount = 7.0")
    }
    assert len(stamps) == 1, "the edits must share one SystemModstamp"

    time.sleep(0.05)
    # Cut the first cycle after its first page, as a crash would.
    real = ctx.client.query_pages

    def first_page_only(*args: Any, **kw: Any) -> Iterator[list[dict[str, Any]]]:
        yield next(real(*args, **kw))
        raise KeyboardInterrupt

    ctx.client.query_pages = first_page_only  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run_cycle(ctx, ["deal"], keep_diffs=True)
    ctx.client.query_pages = real  # type: ignore[method-assign]
    rest = run_cycle(ctx, ["deal"], keep_diffs=True)[0]
    assert compare_entity(engine, admin, ctx.spec.entities["deal"]) == []
    with read_connection(engine) as conn:
        logged = conn.execute(
            select(func.count())
            .select_from(bookkeeping.ChangeLog.__table__)
            .where(
                bookkeeping.ChangeLog.__table__.c.entity == "deal",
                bookkeeping.ChangeLog.__table__.c.op == "updated",
            )
        ).scalar_one()
    assert logged == 500, "each tied edit is logged exactly once across the two cycles"
    assert rest.skipped >= 200 - 1  # the first page's rows are re-read and deduplicated
