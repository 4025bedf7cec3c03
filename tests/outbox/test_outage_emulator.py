"""Outages pause the outbox, they do not kill it: an hour of SERVER_UNAVAILABLE (or of
sessions that keep expiring) dead-letters nothing, counts no attempt, and the outbox drains
once the org is back. The clock is injected and the client's backoff waits are recorded, so
the hour passes in a second."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import dispatch
from connector.outbox.queue import OUTAGE_REASON
from connector.salesforce import connect
from connector.store import read_connection
from connector.store.bookkeeping import DeadLetter, OutboxItem
from connector.store.types import utcnow

from .orgdata import approvals, context, create_registrations, org_registrations, queue
from sync.orgtools import admin_sf

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]
DEAD = DeadLetter.__table__  # type: ignore[attr-defined]


def _pause_end(engine: Engine) -> datetime | None:
    with read_connection(engine) as conn:
        got: datetime | None = conn.execute(
            select(func.max(ITEMS.c.next_attempt_at)).where(ITEMS.c.status == "pending")
        ).scalar()
    return got


@pytest.mark.parametrize("kind", ["SERVER_UNAVAILABLE", "INVALID_SESSION_ID"])
def test_an_hour_long_outage_dead_letters_nothing_and_the_outbox_drains_after_it(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path, kind: str
) -> None:
    """Given 29 approvals queued with outbox.max_attempts = 3 and every API call failing with
    ``kind`` for one (simulated) hour, dispatching whenever something is due - far more than
    3 times - leaves every write pending with 0 attempts, marked as paused, nothing in the
    dead letter, and pauses that grow (backoff); a 30th write queued during a pause waits it
    out without a call; when the org returns, one dispatch writes all 30."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    waits: list[float] = []
    client = connect(settings.salesforce, sleep=waits.append)
    ids = create_registrations(emulator, 30, user="admin")
    ids, extra = ids[:29], ids[29:]
    queue(ctx.engine, approvals(ids))
    settings.outbox.max_attempts = 3
    settings.outbox.retry_base_seconds = 30
    settings.outbox.outage_pause_max_seconds = 300
    start = utcnow()
    emulator.faults(rate=1.0, kinds=[kind], seed=3)
    try:
        now, rounds, pauses = start, 0, []
        while now < start + timedelta(hours=1):
            report = dispatch((ctx.engine, client, ctx.spec, settings), clock=lambda n=now: n)
            assert report.paused is not None, report
            assert (report.written, report.dead) == (0, 0)
            rounds += 1
            if rounds == 1:  # a write queued during the pause waits it out: no call made
                queue(ctx.engine, approvals(extra, cause="during-the-pause"))
                held = dispatch((ctx.engine, client, ctx.spec, settings),
                                clock=lambda n=now: n + timedelta(seconds=1))
                assert held.paused is not None and held.calls == 0
            due = _pause_end(ctx.engine)
            assert due is not None and due > now
            pauses.append((due - now).total_seconds())
            now = due
    finally:
        emulator.faults(rate=0.0)
    assert rounds > settings.outbox.max_attempts
    assert pauses[0] == 30 and max(pauses) == 300 and pauses == sorted(pauses)
    with read_connection(ctx.engine) as conn:
        rows = conn.execute(select(ITEMS)).mappings().all()
        dead = conn.execute(select(func.count()).select_from(DEAD)).scalar()
    assert dead == 0
    assert {(r["status"], r["attempts"], r["reason"]) for r in rows} == {
        ("pending", 0, OUTAGE_REASON)
    }
    assert waits, "the client backs off inside each dispatch too"

    report = dispatch((ctx.engine, client, ctx.spec, settings), clock=lambda: now)

    assert (report.written, report.dead, report.paused) == (30, 0, None)
    ids += extra
    with read_connection(ctx.engine) as conn:
        settled = conn.execute(select(ITEMS.c.status, ITEMS.c.reason)).all()
    assert set(settled) == {("done", None)}
    org = org_registrations(admin_sf(emulator), ids)
    assert all(r["Status__c"] == "Approved" for r in org.values())


def test_a_record_level_failure_still_counts_and_dead_letters_after_max_attempts(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """A picklist value the org refuses is the record's fault: dead-lettered at once, while
    its neighbours in the same call are written."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 3, user="admin")
    writes = approvals(ids)
    writes[0].fields["Status__c"] = "Approved-ish"
    queue(ctx.engine, writes)

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.written, report.dead, report.paused) == (2, 1, None)
