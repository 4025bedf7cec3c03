"""The daemon as a process: push end to end, graceful SIGTERM mid-cycle with no duplicates
after a restart, and a hot standby that takes over when the active daemon is killed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, func, select

from connector.emulator.testing import EmulatorHandle
from connector.store.bookkeeping import ChangeLog

from .daemons import DaemonProcess, wait_for
from prmfixtures import emulator_fixture, sf_env, write_config

pytestmark = pytest.mark.slow

CHANGES = 500


emu = emulator_fixture(seed="demo", records=CHANGES)


@pytest.fixture
def daemons(emu: EmulatorHandle, engine: Engine, tmp_path: Path) -> Iterator[list[DaemonProcess]]:
    """Started daemons, killed at the end whatever happened."""
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.close()


def _config(emu: EmulatorHandle, engine: Engine, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    url = engine.url.render_as_string(hide_password=False)
    # the emulator stamps a change as it commits: no late commits, so no signpost skew
    replace = {"page_size": "200", "signpost_skew_seconds": "0"}
    return write_config(tmp_path, replace), sf_env(emu, url)


def _entries(engine: Engine, entity: str, op: str, after: int, source: str | None = None) -> list:
    t = ChangeLog.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.sf_id, t.c.modstamp, t.c.source).where(
        t.c.entity == entity, t.c.op == op, t.c.id > after
    )
    if source is not None:
        stmt = stmt.where(t.c.source == source)
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


def _metric(text: str, name: str) -> float:
    """The value of the sample ``name`` (with its labels) in Prometheus text, else 0."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _last_seq(engine: Engine) -> int:
    t = ChangeLog.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one())


def test_an_outbound_message_reaches_the_store_with_polling_at_ten_minutes(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Given a daemon polling every 10 minutes and the org sending Outbound Messages for
    registrations, when sales ops edit one, then the store records it (source push)."""
    emu.reset("demo")
    config, env = _config(emu, engine, tmp_path)
    d = DaemonProcess(config, env, poll_interval=600)
    daemons.append(d)
    assert d.wait_event("daemon.sync_done"), d.output()
    emu.call(
        "POST",
        "/_emulator/outbound",
        json={"sobject": "Deal_Registration__c", "url": f"{d.url}/salesforce/outbound"},
    )
    try:
        after = _last_seq(engine)
        reg = emu.call(
            "GET",
            "/services/data/v62.0/query",
            params={"q": "SELECT Id FROM Deal_Registration__c ORDER BY Id LIMIT 1"},
        )["records"][0]["Id"]
        emu.call(
            "PATCH",
            f"/services/data/v62.0/sobjects/Deal_Registration__c/{reg}",
            json={"Decision_Reason__c": "edited by sales ops"},
        )
        assert wait_for(lambda: bool(_entries(engine, "deal_registration", "updated", after)), 30)
        first_entry = _entries(engine, "deal_registration", "updated", after)[0]
        assert (first_entry.sf_id, first_entry.source) == (reg, "push")
        # metrics are counted once the pass (fetch, apply, triggers, outbox) has finished
        wanted = (
            'prm_push_notifications_processed_total{outcome="applied"}',
            "prm_push_to_writeback_seconds_count",
            'prm_records_synced_total{entity="deal_registration",source="push"}',
        )
        assert wait_for(
            lambda: all(_metric(d.get("/metrics").text, name) >= 1 for name in wanted), 30
        ), d.get("/metrics").text
    finally:
        emu.call("DELETE", "/_emulator/outbound/Deal_Registration__c")
    assert d.terminate() == 0


def test_sigterm_mid_cycle_exits_0_and_a_restart_converges_without_duplicates(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Given 500 changed opportunities being polled page by page, when SIGTERM arrives after
    the first page, then the daemon exits 0 within 10 s with part of them recorded; a restarted
    daemon records the rest, and every change is in the log exactly once."""
    emu.reset("demo", records=CHANGES)
    config, env = _config(emu, engine, tmp_path)
    first = DaemonProcess(config, env, poll_interval=1)
    daemons.append(first)
    assert first.wait_event("daemon.sync_done", 120), first.output()
    after = _last_seq(engine)
    opps = emu.call(
        "GET",
        "/services/data/v62.0/query",
        params={"q": f"SELECT Id, Amount FROM Opportunity ORDER BY Id LIMIT {CHANGES}"},
    )["records"]
    assert len(opps) == CHANGES
    emu.faults(latency_ms=300)  # slow pages, so SIGTERM lands inside the cycle
    try:
        for start in range(0, CHANGES, 200):
            batch = [
                {
                    "attributes": {"type": "Opportunity"},
                    "id": o["Id"],
                    "Amount": (o["Amount"] or 0) + 1,
                }
                for o in opps[start : start + 200]
            ]
            emu.call(
                "PATCH",
                "/services/data/v62.0/composite/sobjects",
                json={"allOrNone": True, "records": batch},
            )
        assert wait_for(lambda: len(_entries(engine, "deal", "updated", after)) > 0, 60)
        first.proc.send_signal(15)
        code = first.proc.wait(30)
    finally:
        emu.faults(latency_ms=0)
    assert code == 0, first.output()
    # stopped inside the cycle (not after it): part of the changes logged, the job interrupted
    partial = len(_entries(engine, "deal", "updated", after))
    assert 0 < partial < CHANGES, partial
    assert first.saw("daemon.job_interrupted"), first.output()

    second = DaemonProcess(config, env, poll_interval=0.2)
    daemons.append(second)
    assert wait_for(lambda: len(_entries(engine, "deal", "updated", after)) >= CHANGES, 120), (
        second.output()
    )
    second.wait_event("daemon.sync_done")
    # two further cycles must add nothing
    done = second.count("daemon.sync_done")
    assert second.wait_event("daemon.sync_done", 60, times=done + 2), second.output()
    assert second.terminate() == 0
    updates = _entries(engine, "deal", "updated", after)
    assert len(updates) == CHANGES
    assert {r.sf_id for r in updates} == {o["Id"] for o in opps}


def test_a_second_daemon_is_a_hot_standby_and_takes_over_when_the_first_is_killed(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Given two daemons on one store, only one is active (ready); the other reports standby
    and refuses Outbound Messages with 503; after SIGKILL of the first the standby becomes
    active within 15 s."""
    emu.reset("demo")
    config, env = _config(emu, engine, tmp_path)
    active = DaemonProcess(config, env, poll_interval=600)
    daemons.append(active)
    assert active.wait_event("daemon.active"), active.output()
    standby = DaemonProcess(config, env, poll_interval=600)
    daemons.append(standby)
    assert standby.wait_event("daemon.standby"), standby.output()
    assert active.wait_event("daemon.sync_done"), active.output()
    assert active.get("/readyz").status_code == 200
    waiting = standby.get("/readyz")
    assert waiting.status_code == 503 and waiting.json()["checks"]["active"] is False
    assert standby.get("/healthz").status_code == 200
    refused = requests.post(standby.url + "/salesforce/outbound", data=b"<x/>", timeout=10)
    assert refused.status_code in (400, 503)
    assert not standby.saw("daemon.active")

    active.kill()
    killed = time.monotonic()
    assert wait_for(lambda: standby.get("/readyz").status_code == 200, 15), standby.output()
    assert time.monotonic() - killed <= 15
    assert standby.saw("daemon.active")
    assert standby.terminate() == 0
