"""Write-back under injected faults: every write lands once; bad ones land in the dead letter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, dispatch
from connector.store import read_connection
from connector.store.bookkeeping import OutboxItem
from connector.store.types import utcnow

from .orgdata import approvals, context, create_registrations, org_registrations, queue
from sync.orgtools import admin_sf

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


def test_five_thousand_write_backs_land_once_through_ten_percent_transient_faults(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 5,000 writes (50 of them with a value the org's picklist refuses) and the
    emulator failing 10% of calls with 503, 500, row locks, request limits, connection resets
    and expired sessions, dispatching until nothing is due lands the 4,950 good writes
    exactly once and parks the 50 bad ones with their reason."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 5000, user="admin")
    good, bad = ids[:4950], ids[4950:]
    queue(ctx.engine, approvals(good))
    queue(ctx.engine, [
        OutboxWrite(sobject="Deal_Registration__c", operation="update", sf_id=i,
                    fields={"Status__c": "Approved-ish"}, cause=f"bad:{i}",
                    entity="deal_registration")
        for i in bad
    ])
    # collections below the threshold: the soak exercises per-record results and retries
    settings.outbox.bulk_threshold = 100_000
    emulator.faults(rate=0.10, seed=7)
    clock_offset = timedelta()
    reports = []
    for _ in range(8):  # later rounds pick up writes scheduled for a later attempt
        now = utcnow() + clock_offset
        reports.append(dispatch((ctx.engine, ctx.client, ctx.spec, settings),
                                clock=lambda now=now: now))
        clock_offset += timedelta(hours=2)
        with read_connection(ctx.engine) as conn:
            pending = conn.execute(select(ITEMS.c.id).where(ITEMS.c.status == "pending")).all()
        if not pending:
            break
    injected = emulator.stats()["faults"]["injected"]
    emulator.faults(rate=0.0)
    assert sum(r.calls for r in reports) > 0

    with read_connection(ctx.engine) as conn:
        rows = conn.execute(select(ITEMS)).mappings().all()
    status = {r["sf_id"]: r["status"] for r in rows}
    assert [s for i, s in status.items() if i in good and s != "done"] == []
    assert {status[i] for i in bad} == {"dead"}
    dead = [r for r in rows if r["status"] == "dead"]
    assert {r["error_code"] for r in dead} == {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"}
    assert all("Approved-ish" in r["last_error"] and r["error_fields"] == ["Status__c"]
               for r in dead)
    org = org_registrations(admin_sf(emulator), ids)
    assert len(org) == 5000  # updates never create: no duplicates
    assert all(org[i]["Status__c"] == "Approved" for i in good)
    assert all(org[i]["Status__c"] == "Submitted" for i in bad)
    assert sum(r.written for r in reports) == 4950  # each good record written exactly once
    assert injected > 0
    print(f"fault soak: {injected} faults injected, {[r.counts() for r in reports]}")
