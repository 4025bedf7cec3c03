"""What polling alone cannot see: formula drift, hard deletes, deletes older than the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle
from connector.store import read_connection, repo
from connector.sync.cycle import run_cycle
from connector.sync.reconcile import reconcile_entity

from .orgtools import compare_entity
from prmfixtures import settings_for, sf_client, sync_context

pytestmark = pytest.mark.slow


def _local(engine: Engine, entity: str, sf_id: str) -> dict[str, object]:
    with read_connection(engine) as conn:
        return next(r for r in repo.iter_entity(conn, entity) if r["sf_id"] == sf_id)


def test_reconcile_repairs_drift_that_never_touched_systemmodstamp_and_missed_deletes(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a synced store, when a roll-up changes a value without a new SystemModstamp and a
    record vanishes without a trace, polling sees neither and reconcile repairs both."""
    engine, url = store
    emulator.reset(seed="demo")
    org = emulator.org
    assert org is not None
    ctx = sync_context(settings_for(emulator, url, tmp_path), engine)
    run_cycle(ctx, keep_diffs=False)
    drifted, vanished = sorted(org.store["Opportunity"])[:2]
    with org.lock:  # what a formula or roll-up recalculation does: no save, no new stamp
        org.store["Opportunity"][drifted]["Amount"] = 123.45
        del org.store["Opportunity"][vanished]  # gone without a deleted-log entry
        del org.where[vanished]
    assert not any(r.diffs for r in run_cycle(ctx, keep_diffs=True))
    result = reconcile_entity(ctx, ctx.spec.entities["deal"])
    assert (result.drifted, result.deleted) == (1, 1)
    assert _local(engine, "deal", drifted)["amount"] == 123.45
    assert _local(engine, "deal", vanished)["is_deleted"] is True
    assert compare_entity(engine, sf_client(emulator), ctx.spec.entities["deal"]) == []
    again = reconcile_entity(ctx, ctx.spec.entities["deal"])
    assert (again.drifted, again.deleted, again.missing_locally) == (0, 0, 0)


def test_hard_deleted_records_are_found_through_the_deleted_resource(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """A record deleted and purged from the recycle bin is invisible to queryAll; the poller's
    `deleted` check still marks it deleted."""
    engine, url = store
    emulator.reset(seed="demo")
    settings = settings_for(
        emulator, url, tmp_path, signpost_skew_seconds=0, deleted_check_seconds=0
    )
    ctx = sync_context(settings, engine)
    run_cycle(ctx, keep_diffs=False)
    admin = sf_client(emulator)
    victim = admin.query("SELECT Id FROM Deal_Registration__c ORDER BY Name LIMIT 1")
    victim_id = victim["records"][0]["Id"]
    admin.Deal_Registration__c.delete(victim_id)
    emulator.call("POST", "/_emulator/purge", json={"ids": [victim_id]})
    assert (
        admin.query_all(
            f"SELECT Id FROM Deal_Registration__c WHERE Id = '{victim_id}'", include_deleted=True
        )["totalSize"]
        == 0
    )
    # The deleted resource covers whole minutes up to the present: two minutes later (on the
    # org's clock and the connector's) the delete is inside what it covers.
    emulator.call("POST", "/_emulator/clock", json={"offset_seconds": 120})
    ctx.clock = lambda: datetime.now(UTC) + timedelta(seconds=120)
    try:
        runs = run_cycle(ctx, keep_diffs=True)
    finally:
        emulator.call("POST", "/_emulator/clock", json={"offset_seconds": 0})
    diffs = [d for r in runs for d in r.diffs if d.entity == "deal_registration"]
    assert [(d.sf_id, d.op) for d in diffs] == [(victim_id, "deleted")]
    assert _local(engine, "deal_registration", victim_id)["is_deleted"] is True
