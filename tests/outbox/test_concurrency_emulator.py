"""Two dispatchers on one store, and the budget guard: nothing is written twice or lost."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine, func, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import DispatchReport, dispatch
from connector.salesforce import connect
from connector.salesforce.budget import ApiUsage
from connector.store import make_engine, read_connection
from connector.store.bookkeeping import OutboxItem

from .orgdata import approvals, context, create_registrations, org_registrations, queue
from prmfixtures import sf_client

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


def test_two_dispatchers_on_one_store_write_each_record_once(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 2,000 approvals queued, two dispatchers with their own engines and clients run
    at once (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one write transaction at a time);
    together they write every record exactly once."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    settings.outbox.claim_records = 200
    ids = create_registrations(emulator, 2000, user="admin")
    queue(ctx.engine, approvals(ids))
    reports: list[DispatchReport] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            engine = make_engine(store[1])
            client = connect(settings.salesforce)
            reports.append(dispatch((engine, client, ctx.spec, settings)))
            engine.dispose()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)

    assert errors == []
    assert sum(r.written for r in reports) == 2000
    assert sum(r.items_done for r in reports) == 2000
    with read_connection(ctx.engine) as conn:
        done = conn.execute(
            select(func.count()).select_from(ITEMS).where(ITEMS.c.status == "done")
        ).scalar()
    assert done == 2000
    org = org_registrations(sf_client(emulator), ids)
    assert all(r["Status__c"] == "Approved" for r in org.values())


def test_the_budget_guard_pauses_the_dispatch_and_nothing_is_lost(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given the connector's share of the daily allowance used up, dispatch stops before any
    call, reports why, and leaves every item pending with no attempt counted; once the window
    frees up the next dispatch writes them all."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 300)
    queue(ctx.engine, approvals(ids))
    guard = ctx.client.transport.guard
    guard.refreshed(ApiUsage(used=95_000, max=100_000))  # fresh, so no limits/ re-check

    paused = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert paused.paused is not None and "api_budget" in paused.paused
    assert (paused.written, paused.calls, paused.retry_later, paused.dead) == (0, 0, 0, 0)
    with read_connection(ctx.engine) as conn:
        rows = conn.execute(select(ITEMS.c.status, ITEMS.c.attempts)).all()
    assert {tuple(r) for r in rows} == {("pending", 0)}

    guard.refreshed(ApiUsage(used=10, max=100_000))
    resumed = dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    assert (resumed.written, resumed.paused) == (300, None)
