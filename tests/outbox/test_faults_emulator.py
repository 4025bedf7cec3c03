"""Write-back under injected faults: every write lands once; bad ones land in the dead letter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, dispatch
from connector.salesforce import connect
from connector.store import read_connection
from connector.store.bookkeeping import OutboxItem
from connector.store.types import utcnow

from .orgdata import approvals, context, create_registrations, org_registrations, queue
from prmfixtures import sf_client

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


WRITES, BAD = 1000, 20


def test_a_thousand_write_backs_land_once_through_ten_percent_transient_faults(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 1,000 writes (20 of them with a value the org's picklist refuses), claimed 25 at a
    time (40 calls a round), and the emulator failing 10% of calls with 503, 500, row locks,
    request limits, connection resets and expired sessions, dispatching until nothing is due
    lands the 980 good writes exactly once and parks the 20 bad ones with their reason.

    The client's backoff waits are recorded instead of slept: the faults, retries and their
    order are the emulator's seeded sequence either way."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    waits: list[float] = []
    ctx.client = connect(settings.salesforce, sleep=waits.append)
    ids = create_registrations(emulator, WRITES, user="admin")
    good, bad = ids[: WRITES - BAD], ids[WRITES - BAD :]
    queue(ctx.engine, approvals(good))
    queue(ctx.engine, [
        OutboxWrite(sobject="Deal_Registration__c", operation="update", sf_id=i,
                    fields={"Status__c": "Approved-ish"}, cause=f"bad:{i}",
                    entity="deal_registration")
        for i in bad
    ])
    # collections below the threshold: the soak exercises per-record results and retries;
    # small claims make as many calls (and injected faults) as 5,000 records in 200s would
    settings.outbox.bulk_threshold = 100_000
    settings.outbox.claim_records = 25
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
    org = org_registrations(sf_client(emulator), ids)
    assert len(org) == WRITES  # updates never create: no duplicates
    assert all(org[i]["Status__c"] == "Approved" for i in good)
    assert all(org[i]["Status__c"] == "Submitted" for i in bad)
    assert sum(r.written for r in reports) == WRITES - BAD  # each good one written once
    assert injected > 0
    assert waits, "the faults should have made the client back off"
    print(f"fault soak: {injected} faults injected, {[r.counts() for r in reports]}")
