"""Echoes: our write-back coming back on the next poll is recognised; a human edit is not."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle
from connector.outbox import dispatch
from connector.sync.apply import apply_page
from connector.sync.cycle import run_cycle
from connector.sync.echo import mark_echoes
from connector.sync.window import select_soql

from .orgdata import approvals, context, create_registrations, queue
from prmfixtures import sf_client


def _cycle_calls(emulator: EmulatorHandle, ctx: object) -> int:
    before = emulator.stats()["api_calls"]
    run_cycle(ctx, keep_diffs=False)  # type: ignore[arg-type]
    return int(emulator.stats()["api_calls"] - before)


def test_the_poll_after_a_write_back_marks_our_changes_as_echoes_but_not_a_human_edit(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 5 registrations synced and approved by the outbox, and then a person editing the
    reason of one of them, the next poll's diffs are echoes for the 4 untouched records and a
    business change for the edited one; a cycle after the write-back costs what an idle one
    does."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 5)
    run_cycle(ctx, keep_diffs=False)  # backfill: snapshots of what we read
    idle = _cycle_calls(emulator, ctx)

    queue(ctx.engine, approvals(ids))
    assert dispatch((ctx.engine, ctx.client, ctx.spec, settings)).written == 5
    sf_client(emulator).Deal_Registration__c.update(ids[0], {"Decision_Reason__c": "Manual"})

    entity = ctx.spec.entities["deal_registration"]
    soql = select_soql(entity.sobject, entity.inbound_fields(), None, filter=entity.filter)
    rows = [r for page in ctx.client.query_pages(soql) for r in page if r["Id"] in ids]
    with ctx.engine.connect() as conn:
        tx = conn.begin()
        diffs = apply_page(conn, entity, rows, cycle_id="probe").diffs
        marked = mark_echoes(conn, entity, diffs, ctx.client.user_id)
        tx.rollback()
    by_id = {d.sf_id: d for d in marked}
    assert set(by_id) == set(ids)
    assert [by_id[i].echo for i in ids] == [False, True, True, True, True]
    assert by_id[ids[0]].origin == emulator.users["admin"]["id"]
    assert set(by_id[ids[1]].changed) == {"status", "decision_reason"}

    after_write_back = _cycle_calls(emulator, ctx)
    assert after_write_back <= idle


def test_an_integration_user_change_to_other_values_is_not_an_echo(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a write-back, when the same user (another tool sharing it) later writes a
    different value, the poll does not take it for an echo."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 2)
    run_cycle(ctx, keep_diffs=False)
    queue(ctx.engine, approvals(ids))
    dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    ctx.client.collection(
        "update", "Deal_Registration__c", [{"Id": ids[1], "Status__c": "Rejected"}]
    )

    entity = ctx.spec.entities["deal_registration"]
    soql = select_soql(entity.sobject, entity.inbound_fields(), None, filter=entity.filter)
    rows = [r for page in ctx.client.query_pages(soql) for r in page if r["Id"] in ids]
    with ctx.engine.connect() as conn:
        tx = conn.begin()
        diffs = apply_page(conn, entity, rows, cycle_id="probe").diffs
        marked = {d.sf_id: d.echo for d in mark_echoes(conn, entity, diffs, ctx.client.user_id)}
        tx.rollback()
    assert marked == {ids[0]: True, ids[1]: False}
