"""The outbox in the whole loop (``sync_once``): queued writes go out, echoes fire nothing,
local PRM edits flow out, conflicts on `both` fields follow their policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from connector.emulator.testing import EmulatorHandle
from connector.service import Runtime, open_runtime, sync_once
from connector.store import read_connection
from connector.store.bookkeeping import ChangeLog, OutboxConflict
from connector.store.diffs import RecordDiff
from connector.store.models import entity_table
from connector.store.stream import append_changes

from .orgdata import approvals, create_registrations, org_registrations, queue
from prmfixtures import open_test_runtime, sf_client, sf_env, write_config

CHANGES = ChangeLog.__table__  # type: ignore[attr-defined]
CONFLICTS = OutboxConflict.__table__  # type: ignore[attr-defined]


@pytest.fixture
def runtime(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> Iterator[Runtime]:
    _, url = store
    emulator.reset(seed="demo")
    rt = open_test_runtime(emulator, url, tmp_path, signpost_skew_seconds=0, lag_seconds=0)
    yield rt
    rt.close()


def _entries(rt: Runtime, sf_ids: list[str]) -> list[dict[str, object]]:
    with read_connection(rt.engine) as conn:
        rows = conn.execute(
            select(CHANGES).where(CHANGES.c.sf_id.in_(sf_ids)).order_by(CHANGES.c.id)
        ).mappings().all()
    return [dict(r) for r in rows]


def test_sync_once_writes_back_and_three_later_cycles_log_only_echoes(
    emulator: EmulatorHandle, runtime: Runtime
) -> None:
    """Given registrations synced and approvals queued, one sync_once writes them; the next
    cycle logs their return as echoes, and a human edit to one approved registration comes
    back as a business change; later cycles log nothing new."""
    ids = create_registrations(emulator, 3)
    sync_once(runtime)
    queue(runtime.engine, approvals(ids))
    report = sync_once(runtime)
    assert report.stages["outbox"]["written"] == 3
    org = org_registrations(sf_client(emulator), ids)
    assert {r["Status__c"] for r in org.values()} == {"Approved"}

    sync_once(runtime)
    echoes = [e for e in _entries(runtime, ids) if e["echo"]]
    assert sorted(str(e["sf_id"]) for e in echoes) == sorted(ids)

    sf_client(emulator).Deal_Registration__c.update(ids[0], {"Status__c": "Rejected"})
    sync_once(runtime)
    last = _entries(runtime, [ids[0]])[-1]
    assert (last["echo"], last["origin"]) == (False, emulator.users["admin"]["id"])
    count = len(_entries(runtime, ids))
    for _ in range(3):
        again = sync_once(runtime)
        assert again.stages["outbox"]["written"] == 0
    assert len(_entries(runtime, ids)) == count


def test_a_local_edit_flows_out_through_the_outbox_local_consumer(
    emulator: EmulatorHandle, runtime: Runtime
) -> None:
    """Given a registration synced, when the PRM records a local change to its status
    (source "local"), the next sync_once writes it to Salesforce."""
    [reg] = create_registrations(emulator, 1)
    sync_once(runtime)
    table = entity_table("deal_registration")
    with runtime.engine.begin() as conn:
        local_id = conn.execute(select(table.c.id).where(table.c.sf_id == reg)).scalar_one()
        conn.execute(update(table).where(table.c.id == local_id).values(status="Pending Review"))
        append_changes(conn, [RecordDiff(
            entity="deal_registration", sf_id=reg, op="updated",
            old={"status": "Submitted"}, new={"status": "Pending Review"},
            changed=("status",), origin=None, modstamp=None, local_id=local_id, source="local",
        )], cycle_id="local-edit")

    report = sync_once(runtime)

    # queued by the first stage of the cycle, before the cycle's own effects
    assert report.stages["outbox-local"]["queued"] == 1
    assert report.stages["outbox"]["written"] == 1
    assert org_registrations(sf_client(emulator), [reg])[reg]["Status__c"] == "Pending Review"


@pytest.mark.parametrize(("policy", "expected"), [("crm_wins", "Rejected"),
                                                   ("prm_wins", "Approved")])
def test_a_field_changed_in_salesforce_after_the_write_was_queued_follows_its_policy(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path,
    policy: str, expected: str,
) -> None:
    """Given an approval queued, when a person rejects the registration in Salesforce before
    the write goes out, the conflict is recorded and the field's policy decides the value;
    the reason (no conflict) is written either way."""
    _, url = store
    emulator.reset(seed="demo")
    cfg = write_config(tmp_path, sync={"signpost_skew_seconds": 0, "lag_seconds": 0})
    mapping = (tmp_path / "mapping.yaml").read_text().replace(
        "status:              {crm: Status__c, direction: both}",
        f"status:              {{crm: Status__c, direction: both, conflict: {policy}}}",
    )
    (tmp_path / "mapping.yaml").write_text(mapping)
    rt = open_runtime(cfg, env=sf_env(emulator, url))
    try:
        [reg] = create_registrations(emulator, 1)
        sync_once(rt)
        with rt.engine.begin() as conn:  # queued, but not yet sent
            from connector.outbox import enqueue

            enqueue(conn, approvals([reg], reason="Auto"))
        sf_client(emulator).Deal_Registration__c.update(reg, {"Status__c": "Rejected"})

        report = sync_once(rt)  # inbound sees the rejection, then the outbox dispatches

        assert report.stages["outbox"]["conflicts"] == 1
        row = org_registrations(sf_client(emulator), [reg])[reg]
        assert (row["Status__c"], row["Decision_Reason__c"]) == (expected, "Auto")
        with read_connection(rt.engine) as conn:
            c = conn.execute(select(CONFLICTS)).mappings().one()
        assert (c["field"], c["prm_value"], c["crm_value"]) == ("Status__c", "Approved",
                                                                  "Rejected")
        assert (c["policy"], c["winner"]) == (policy, "crm" if policy == "crm_wins" else "prm")
    finally:
        rt.close()
