"""No transaction is open across a Salesforce call: while a write-back call hangs, the store
takes other writes (on SQLite the dispatcher used to hold the write lock for the whole call,
so the receiver answered 503 while Salesforce was slow)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import DispatchReport, OutboxWrite, dispatch
from connector.store import make_engine, read_connection
from connector.store.bookkeeping import OutboxItem

from .orgdata import approvals, context, create_registrations, queue

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


def test_a_slow_salesforce_call_does_not_block_a_concurrent_store_write(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a dispatch whose collection call is held until the test says so, a write made by
    another engine meanwhile commits while the call is still in flight (before the call is let
    go), the claimed items show who is sending them, and the dispatch then settles them."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 5, user="admin")
    queue(ctx.engine, approvals(ids))
    in_call, written = threading.Event(), threading.Event()
    held: dict[str, bool] = {}
    real = ctx.client.collection

    def slow_collection(*args: Any, **kwargs: Any) -> Any:
        in_call.set()
        held["released_by_the_test"] = written.wait(20)
        return real(*args, **kwargs)

    ctx.client.collection = slow_collection  # type: ignore[method-assign]
    reports: list[DispatchReport] = []
    worker = threading.Thread(
        target=lambda: reports.append(dispatch((ctx.engine, ctx.client, ctx.spec, settings)))
    )
    worker.start()
    assert in_call.wait(30)
    other = make_engine(store[1])
    try:
        with other.begin() as conn:  # blocks here if the dispatcher holds the write lock
            from connector.outbox import enqueue

            enqueue(conn, [OutboxWrite(sobject="Deal_Registration__c", operation="update",
                                       sf_id=ids[0], fields={"Decision_Reason__c": "later"},
                                       cause="concurrent", entity="deal_registration")])
        with read_connection(other) as conn:
            reasons = conn.execute(
                select(ITEMS.c.reason).where(ITEMS.c.sf_id.in_(ids), ITEMS.c.status == "pending")
            ).scalars().all()
        written.set()
    finally:
        written.set()
        worker.join(60)
        other.dispose()
    assert held == {"released_by_the_test": True}
    assert sum(1 for r in reasons if r and r.startswith("sending:")) == 5
    assert reports and reports[0].written == 5
