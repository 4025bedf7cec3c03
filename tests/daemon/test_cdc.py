"""`prm-connector run` with `sync.push: cdc`: Change Data Capture over the emulator's Pub/Sub
API as the push source, with polling at ten minutes: changes reach the store through the push
path, gaps are re-read, overflow and a refused replay id re-poll (visible in `status`), our
own writes are recognised, and a SIGKILL resumes from the committed replay id."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select, update

from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.store.bookkeeping import CdcSubscription, ChangeLog

from .conftest import sf_env, write_config
from .daemons import DaemonProcess, wait_for
from clirunner import invoke

pytestmark = pytest.mark.slow

V = "/services/data/v62.0"
TOPIC = "/data/Deal_Registration__ChangeEvent"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="demo") as handle:
        yield handle


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.close()


def _start(emu: EmulatorHandle, engine: Engine, tmp_path: Path) -> DaemonProcess:
    url = engine.url.render_as_string(hide_password=False)
    config = write_config(tmp_path, {"push": "cdc", "signpost_skew_seconds": "0",
                                     "cdc_repoll_margin_seconds": "60"})
    d = DaemonProcess(config, sf_env(emu, url), poll_interval=600)
    assert d.wait_event("daemon.cdc_started"), d.output()
    return d


def _registrations(emu: EmulatorHandle, n: int) -> list[str]:
    q = f"SELECT Id FROM Deal_Registration__c ORDER BY Id LIMIT {n}"
    return [r["Id"] for r in emu.call("GET", f"{V}/query", params={"q": q})["records"]]


def _reason(emu: EmulatorHandle, rid: str) -> Any:
    return emu.call("GET", f"{V}/sobjects/Deal_Registration__c/{rid}")["Decision_Reason__c"]


def _store_reason(engine: Engine, rid: str) -> Any:
    from connector.store.models import ENTITY_MODELS

    t = ENTITY_MODELS["deal_registration"].__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return conn.execute(select(t.c.decision_reason).where(t.c.sf_id == rid)).scalar()


def _sub(engine: Engine) -> Any:
    t = CdcSubscription.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return conn.execute(select(t).where(t.c.topic == TOPIC)).mappings().first()


def _push_entries(engine: Engine, rid: str, source: str | None = "push") -> int:
    t = ChangeLog.__table__  # type: ignore[attr-defined]
    stmt = select(t.c.id).where(t.c.sf_id == rid, t.c.op == "updated")
    if source is not None:
        stmt = stmt.where(t.c.source == source)
    with engine.connect() as conn:
        return len(conn.execute(stmt).all())


def _patch(emu: EmulatorHandle, rid: str, reason: str, **headers: str) -> None:
    resp = requests.patch(
        f"{emu.instance_url}{V}/sobjects/Deal_Registration__c/{rid}",
        json={"Decision_Reason__c": reason},
        headers={"Authorization": f"Bearer {emu.token('admin')}", **headers},
        verify=emu.ca_bundle,
        timeout=30,
    )
    resp.raise_for_status()


def _pubsub_faults(emu: EmulatorHandle, **settings: Any) -> None:
    emu.call("POST", "/_emulator/faults", json={"pubsub": settings})


def test_changes_gaps_and_overflow_reach_the_store_with_polling_at_ten_minutes(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    emu.reset("demo")
    d = _start(emu, engine, tmp_path)
    daemons.append(d)
    assert d.wait_event("daemon.sync_done"), d.output()
    first, second, third, fourth = _registrations(emu, 4)

    # An edit in the org: its change event makes the daemon re-read and apply the record.
    _patch(emu, first, "edited by sales ops")
    assert wait_for(lambda: _store_reason(engine, first) == "edited by sales ops", 30), d.output()
    assert _push_entries(engine, first) == 1
    assert wait_for(lambda: (_sub(engine) or {}).get("replay_id") is not None, 10)

    # A GAP event (Salesforce could not build the change's data): the record is re-read.
    _pubsub_faults(emu, gap_transactions=1)
    _patch(emu, second, "changed during a gap")
    assert wait_for(lambda: _store_reason(engine, second) == "changed during a gap", 30)
    assert d.wait_event("daemon.cdc_gap"), d.output()
    assert _sub(engine)["gaps"] == 1

    # An overflow: no record ids at all; the object is polled again from the change's commit.
    syncs = d.count("daemon.sync_done")
    _pubsub_faults(emu, overflow_transactions=1)
    emu.call("PATCH", f"{V}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Deal_Registration__c"}, "id": rid,
         "Decision_Reason__c": "bulk edit"} for rid in (third, fourth)
    ]})
    assert d.wait_event("daemon.cdc_repoll"), d.output()
    assert d.wait_event("daemon.sync_done", times=syncs + 1), d.output()
    assert _store_reason(engine, third) == _store_reason(engine, fourth) == "bulk edit"
    row = _sub(engine)
    assert row["repolls"] == 1 and "GAP_OVERFLOW" in row["detail"]
    env = {**sf_env(emu, engine.url.render_as_string(hide_password=False))}
    res = invoke("-c", str(tmp_path / "connector.yaml"), "status", env=env)
    assert res.exit_code == 0, res.stderr
    text = " ".join(res.stdout.split())  # the console wraps long lines
    # the poll it asked for has run: live again, the gap's reason kept
    assert f"CDC {TOPIC}: live, 3 events, 1 gap events re-read, 1 re-polls" in text
    assert "(last gap: GAP_OVERFLOW" in text
    res = invoke("-c", str(tmp_path / "connector.yaml"), "status", "--json", env=env)
    cdc = {c["topic"]: c for c in json.loads(res.stdout)["cdc"]}
    assert (cdc[TOPIC]["gaps"], cdc[TOPIC]["repolls"], cdc[TOPIC]["state"]) == (
        1, 1, "live"
    )

    # Our own write (changeOrigin names our client): recognised, not re-read.
    own = d.count("daemon.cdc_done")
    ours = {"Sforce-Call-Options": "client=prm-connector"}
    _patch(emu, first, "written by the connector", **ours)
    assert d.wait_event("daemon.cdc_done", times=own + 1), d.output()
    done = [e for e in d.events if e.get("event") == "daemon.cdc_done"][own:]
    assert any(e.get("own") == 1 and e.get("queries") == 0 for e in done), done
    assert _push_entries(engine, first) == 1
    metrics = d.get("/metrics").text
    assert 'prm_cdc_events_total{kind="own"} 1.0' in metrics
    assert 'prm_cdc_repolls_total{entity="deal_registration"} 1.0' in metrics
    assert f'prm_cdc_last_change_age_seconds{{state="live",topic="{TOPIC}"}}' in metrics

    # The org's delivery allocation used up: the subscription is refused, the object re-polled.
    repolls = d.count("daemon.cdc_repoll")
    _pubsub_faults(emu, delivery_limit=0)
    try:
        _patch(emu, second, "after the allocation ran out")
        assert d.wait_event("daemon.cdc_repoll", times=repolls + 1), d.output()
        last = [e for e in d.events if e.get("event") == "daemon.cdc_repoll"][-1]
        assert "delivery allocation exceeded" in last["reason"]
        assert wait_for(
            lambda: _store_reason(engine, second) == "after the allocation ran out", 30
        ), d.output()
    finally:
        _pubsub_faults(emu, delivery_limit=None)
    assert d.terminate() == 0


def test_run_refuses_an_unknown_push_source(tmp_path: Path) -> None:
    res = invoke("-c", str(tmp_path / "connector.yaml"), "run", "--push", "sms")
    assert res.exit_code == 2
    assert "must be outbound or cdc" in res.stderr


def test_sigkill_resumes_from_the_committed_replay_id_and_a_refused_one_repolls(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    emu.reset("demo")
    d = _start(emu, engine, tmp_path)
    daemons.append(d)
    assert d.wait_event("daemon.sync_done"), d.output()
    first, second, third = _registrations(emu, 3)
    _patch(emu, first, "before the kill")
    assert wait_for(lambda: _store_reason(engine, first) == "before the kill", 30), d.output()
    assert wait_for(lambda: (_sub(engine) or {}).get("events") == 1, 10)
    d.kill()
    d.proc.wait(30)

    # Changed while the daemon is down: the subscription resumes after the committed replay
    # id, so that change's event arrives (LATEST would never deliver it), and is applied once
    # (the restart's first poll may get there first: then the event finds nothing new).
    _patch(emu, second, "while it was down")
    again = _start(emu, engine, tmp_path)
    daemons.append(again)
    assert wait_for(lambda: _store_reason(engine, second) == "while it was down", 30), (
        again.output()
    )
    assert wait_for(lambda: _sub(engine)["events"] == 2, 30), again.output()
    assert _push_entries(engine, second, None) == 1
    assert _push_entries(engine, first, None) == 1  # not applied twice
    again.kill()
    again.proc.wait(30)

    # A replay id the org refuses (corrupted): never a silent jump to the newest event; the
    # object is polled again from the last change seen (minus the margin).
    t = CdcSubscription.__table__  # type: ignore[attr-defined]
    stored = base64.b64decode(_sub(engine)["replay_id"])
    bad = base64.b64encode(bytes([stored[0] ^ 0xFF]) + stored[1:]).decode()
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.topic == TOPIC).values(replay_id=bad))
    _patch(emu, third, "while the replay id was bad")
    third_run = _start(emu, engine, tmp_path)
    daemons.append(third_run)
    assert third_run.wait_event("daemon.cdc_repoll"), third_run.output()
    assert wait_for(
        lambda: _store_reason(engine, third) == "while the replay id was bad", 30
    ), third_run.output()
    repoll = next(e for e in third_run.events if e.get("event") == "daemon.cdc_repoll")
    assert "replay id refused" in repoll["reason"]
    assert _sub(engine)["state"] in ("repolling", "live")
    assert "replay id refused" in _sub(engine)["detail"]
    assert third_run.terminate() == 0
