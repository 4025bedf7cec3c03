"""The outbox's delete against the emulator: a record the connector created and stops wanting
(a partner's eligibility record) is deleted by the Id its upsert got; a record Salesforce never
got costs no call; one already gone settles as done."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, dispatch
from connector.outbox.crmform import LocalRecord, build_writes
from connector.store import read_connection
from connector.store.bookkeeping import OutboxItem
from connector.store.models import entity_table
from connector.store.types import utcnow

from .orgdata import context, queue
from prmfixtures import sf_client

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]
KEY = "PRM-ELIG-test-0001"


def _eligibility(engine: Engine, account: str, key: str) -> int:
    """A partner row for ``account`` and an eligibility row of it (no Salesforce Id yet)."""
    now = utcnow()
    partner, table = entity_table("partner"), entity_table("eligibility")
    with engine.begin() as conn:
        pid = conn.execute(select(partner.c.id).where(partner.c.sf_id == account)).scalar()
        if pid is None:
            pid = conn.execute(insert(partner).values(
                sf_id=account, name="Northwind", created_at=now, updated_at=now)
                .returning(partner.c.id)).scalar_one()
        return int(conn.execute(insert(table).values(
            name="Cloud launch co-marketing fund", partner=pid, kind="incentive",
            key="cloud-launch-mdf", why="in segment cloud-certified", since=now.date(),
            prm_key=key, created_at=now, updated_at=now).returning(table.c.id)).scalar_one())


def _delete(local_id: int, key: str, cause: str) -> OutboxWrite:
    return OutboxWrite("Partner_Eligibility__c", "delete", {}, cause,
                       external_id_field="PRM_Key__c", external_id=key,
                       entity="eligibility", local_id=local_id)


def _writes(emulator: EmulatorHandle) -> int:
    return sum(n for k, n in emulator.stats()["by_endpoint"].items()
               if "composite" in k or "jobs" in k)


def test_a_record_created_and_left_in_one_dispatch_is_created_then_deleted(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    account = sf_client(emulator).query(
        "SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")["records"][0]["Id"]
    local_id = _eligibility(ctx.engine, account, KEY)
    with ctx.engine.begin() as conn:
        row = dict(conn.execute(select(entity_table("eligibility")).where(
            entity_table("eligibility").c.id == local_id)).mappings().one())
        upserts, bad = build_writes(conn, ctx.spec, [
            LocalRecord("eligibility", local_id, None, row, "enter", row=row)])
    assert not bad and [w.operation for w in upserts] == ["upsert"]
    # the delete is queued first: deletes still go after the upserts of the same dispatch
    queue(ctx.engine, [_delete(local_id, KEY, "leave")])
    queue(ctx.engine, upserts)

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.items_done, report.dead) == (2, 0)
    admin = sf_client(emulator)
    left = admin.query(f"SELECT Id FROM Partner_Eligibility__c WHERE PRM_Key__c = '{KEY}'")
    assert left["totalSize"] == 0
    gone = admin.query_all(
        f"SELECT Id, IsDeleted FROM Partner_Eligibility__c WHERE PRM_Key__c = '{KEY}'",
        include_deleted=True)["records"]
    assert [r["IsDeleted"] for r in gone] == [True]  # created, then deleted
    with read_connection(ctx.engine) as conn:
        assert set(conn.execute(select(ITEMS.c.status)).scalars()) == {"done"}

    # deleting it again (a replay after a crash) finds it gone: done, not dead-lettered
    queue(ctx.engine, [OutboxWrite("Partner_Eligibility__c", "delete", {}, "again",
                                   sf_id=gone[0]["Id"], entity="eligibility",
                                   local_id=local_id)])
    again = dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    assert (again.items_done, again.dead) == (1, 0)


def test_a_record_salesforce_never_got_is_settled_without_a_call(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    account = sf_client(emulator).query(
        "SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")["records"][0]["Id"]
    local_id = _eligibility(ctx.engine, account, "PRM-ELIG-test-never")
    queue(ctx.engine, [_delete(local_id, "PRM-ELIG-test-never", "leave")])
    before = _writes(emulator)

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.items_done, report.unchanged, report.dead) == (1, 1, 0)
    assert _writes(emulator) == before


def test_a_delete_names_its_record() -> None:
    with pytest.raises(ValueError, match="needs its sf_id or external id"):
        OutboxWrite("Partner_Eligibility__c", "delete", {}, "cause")
