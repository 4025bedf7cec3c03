"""The push path: stored notifications become fetched, applied records (source push), once,
through the service layer like a poll (a sync_run row, API usage, echo detection); polling
afterwards finds nothing new to record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from connector.daemon.inbox import Incoming, store_notifications
from connector.daemon.push import run_push
from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, dispatch, enqueue
from connector.pipeline import StageContext
from connector.service import Runtime, backfill, open_runtime, sync_once
from connector.store.bookkeeping import ApiUsageSample, ChangeLog, ReceivedNotification, SyncRun

from prmfixtures import emulator_fixture, sf_env, write_config

RUNS = SyncRun.__table__  # type: ignore[attr-defined]
USAGE = ApiUsageSample.__table__  # type: ignore[attr-defined]


emu = emulator_fixture(seed="demo")


@pytest.fixture
def rt(emu: EmulatorHandle, engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on ``engine`` against the demo org, everything backfilled."""
    emu.reset("demo")
    url = engine.url.render_as_string(hide_password=False)
    runtime = open_runtime(write_config(tmp_path), env=sf_env(emu, url))
    backfill(runtime)
    yield runtime
    runtime.close()


def _registrations(emu: EmulatorHandle, n: int) -> list[str]:
    regs = emu.call(
        "GET",
        "/services/data/v62.0/query",
        params={"q": f"SELECT Id FROM Deal_Registration__c ORDER BY Id LIMIT {n}"},
    )["records"]
    return [r["Id"] for r in regs]


def _runs(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(RUNS).where(RUNS.c.kind == "push").order_by(RUNS.c.started_at)).mappings()]


def _push_entries(engine: Engine) -> list[tuple[str, str, str]]:
    t = ChangeLog.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.entity, t.c.sf_id, t.c.source).order_by(t.c.id)).all()
    return [(r.entity, r.sf_id, r.source) for r in rows]


def _outcomes(engine: Engine) -> dict[str, str | None]:
    t = ReceivedNotification.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.notification_id, t.c.outcome, t.c.processed_at)).all()
    assert all(r.processed_at is not None for r in rows)
    return {r.notification_id: r.outcome for r in rows}


class _Probe:
    name = "probe"

    def __init__(self) -> None:
        self.run_ids: list[str] = []

    def run(self, ctx: StageContext) -> dict[str, int]:
        self.run_ids.append(ctx.run_id)
        return {"ran": 1}


def test_pushed_records_are_fetched_in_one_query_applied_once_and_polling_dedupes(
    emu: EmulatorHandle, rt: Runtime, engine: Engine
) -> None:
    """Given a synced store and 3 registrations changed in the org, when their notifications
    (one delivered twice, plus an unmapped object and a deleted record) are processed, then one
    query fetches them, each gets one change-log entry with source push, the pass is recorded
    as a push run with its API call, the stages run under that run's id, and the next poll
    records nothing more for them."""
    ids = _registrations(emu, 3)
    for i, sf_id in enumerate(ids):
        emu.call(
            "PATCH",
            f"/services/data/v62.0/sobjects/Deal_Registration__c/{sf_id}",
            json={"Decision_Reason__c": f"pushed {i}"},
        )
    before = len(_push_entries(engine))
    items = [Incoming(f"04l{i:015d}", "Deal_Registration__c", sf_id) for i, sf_id in enumerate(ids)]
    items.append(Incoming("04l999999999999999", "Contact", "003000000000001AAA"))
    items.append(Incoming("04l888888888888888", "Deal_Registration__c", "a01000000000000ZZZ"))
    assert store_notifications(engine, items) == 5
    assert store_notifications(engine, items[:1]) == 0  # a redelivery

    calls = rt.client().calls
    probe = _Probe()
    run, report = run_push(rt, stages=lambda: [probe])
    assert rt.client().calls - calls == 1
    assert report.outcomes == {"applied": 3, "unmapped": 1, "missing": 1}
    new = _push_entries(engine)[before:]
    assert sorted(new) == sorted(("deal_registration", i, "push") for i in ids)
    outcomes = _outcomes(engine)
    assert outcomes["04l999999999999999"] == "unmapped"
    assert outcomes["04l888888888888888"] == "missing"

    assert run is not None and run.kind == "push" and run.status == "ok"
    assert probe.run_ids == [run.run_id] and run.stages == {"probe": {"ran": 1}}
    [row] = _runs(engine)
    assert (row["id"], row["status"]) == (run.run_id, "ok")
    counts = row["counts"]
    assert isinstance(counts, dict)
    assert (counts["changes"], counts["api_calls"]) == (3, 1)
    assert [o["entity"] for o in counts["objects"]] == ["deal_registration"]
    with engine.connect() as conn:
        usage = conn.execute(select(USAGE.c.calls).order_by(USAGE.c.id.desc())).scalars().first()
    assert usage == 1

    again, idle = run_push(rt, stages=lambda: [probe])
    assert (again, idle.processed) == (None, 0)  # nothing pending: processed once, no run
    assert len(_runs(engine)) == 1 and len(probe.run_ids) == 1
    sync_once(rt)
    assert _push_entries(engine)[before + 3 :] == []  # the poll deduped against the push


def test_a_pushed_write_back_is_an_echo_and_runs_no_stage(
    emu: EmulatorHandle, rt: Runtime, engine: Engine
) -> None:
    """Given our own write-back to a registration, when its notification comes in, the push
    recognises it as an echo (the integration user, the values we wrote), as a poll would:
    the entry is logged with echo set and no stage runs."""
    [reg] = _registrations(emu, 1)
    with engine.begin() as conn:
        enqueue(conn, [OutboxWrite(
            sobject="Deal_Registration__c", operation="update", sf_id=reg,
            fields={"Decision_Reason__c": "Approved by the connector"}, cause="t:1",
            entity="deal_registration",
        )])
    assert dispatch(rt).written == 1
    store_notifications(engine, [Incoming("04l000000000000777", "Deal_Registration__c", reg)])
    probe = _Probe()
    run, report = run_push(rt, stages=lambda: [probe])
    assert report.outcomes == {"echo": 1}
    assert run is not None and probe.run_ids == [] and run.stages == {}
    t = ChangeLog.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        last = conn.execute(select(t.c.sf_id, t.c.source, t.c.echo).order_by(t.c.id.desc())).first()
    assert tuple(last or ()) == (reg, "push", True)
    [row] = _runs(engine)
    counts = row["counts"]
    assert isinstance(counts, dict)
    assert counts["objects"][0]["echoes"] == 1
