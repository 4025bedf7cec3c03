"""The push worker: stored notifications become fetched, applied records (source push), once;
polling afterwards finds nothing new to record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from connector.daemon.inbox import Incoming, store_notifications
from connector.daemon.push import process_pending
from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.mapping import load_mapping
from connector.salesforce import SalesforceClient, connect
from connector.settings import load_settings
from connector.store.bookkeeping import ChangeLog, ReceivedNotification
from connector.sync.context import SyncContext
from connector.sync.cycle import run_cycle

from .conftest import sf_env, write_config


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    """The demo org."""
    with running_emulator(seed="demo") as handle:
        yield handle


def _client(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path
) -> tuple[SalesforceClient, SyncContext]:
    url = engine.url.render_as_string(hide_password=False)
    settings = load_settings(write_config(tmp_path), env=sf_env(emu, url))
    client = connect(settings.salesforce)
    spec = load_mapping(settings.mapping_path)
    return client, SyncContext(engine=engine, client=client, spec=spec, settings=settings.sync)


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


def test_pushed_records_are_fetched_in_one_query_applied_once_and_polling_dedupes(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path
) -> None:
    """Given a synced store and 3 registrations changed in the org, when their notifications
    (one delivered twice, plus an unmapped object and a deleted record) are processed, then one
    query fetches them, each gets one change-log entry with source push, and the next poll
    records nothing more for them."""
    client, ctx = _client(emu, engine, tmp_path)
    emu.reset("demo")
    run_cycle(ctx, keep_diffs=False)
    regs = emu.call(
        "GET",
        "/services/data/v62.0/query",
        params={"q": "SELECT Id FROM Deal_Registration__c ORDER BY Id LIMIT 3"},
    )["records"]
    ids = [r["Id"] for r in regs]
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

    calls = client.calls
    report = process_pending(engine, ctx.spec, client)
    assert client.calls - calls == 1
    assert report.outcomes == {"applied": 3, "unmapped": 1, "missing": 1}
    new = _push_entries(engine)[before:]
    assert sorted(new) == sorted(("deal_registration", i, "push") for i in ids)
    outcomes = _outcomes(engine)
    assert outcomes["04l999999999999999"] == "unmapped"
    assert outcomes["04l888888888888888"] == "missing"

    again = process_pending(engine, ctx.spec, client)
    assert again.processed == 0  # nothing pending: processed once
    run_cycle(ctx, keep_diffs=False)
    assert _push_entries(engine)[before + 3 :] == []  # the poll deduped against the push
