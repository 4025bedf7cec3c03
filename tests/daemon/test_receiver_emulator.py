"""The receiver against the emulator's real Outbound Message sender over HTTP."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.store.bookkeeping import ReceivedNotification

from .conftest import Running, stored_count
from prmfixtures import emulator_fixture

emu = emulator_fixture(seed="empty", outbound_time_scale=0.001)


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_notifications_faulted_before_login_are_retried_by_salesforce_and_stored_once(
    emu: EmulatorHandle, receiver: Callable[..., Running], engine: Engine
) -> None:
    """Given a receiver that does not know its org yet, the emulator's first deliveries get a
    503 fault and are retried; once the org is known they are acked and stored exactly once,
    with the record's Id and type."""
    rx = receiver(org_id=None, outbound_secret="path-secret")
    before = emu.call("GET", "/_emulator/outbound")  # the emulator serves the whole module
    emu.call(
        "POST",
        "/_emulator/outbound",
        json={"sobject": "Account", "url": f"{rx.url}/salesforce/outbound/path-secret"},
    )
    try:
        created = [
            emu.call("POST", "/services/data/v62.0/sobjects/Account", json={"Name": f"Push {i}"})
            for i in range(3)
        ]
        ids = {c["id"] for c in created}
        assert _wait(
            lambda: emu.call("GET", "/_emulator/outbound")["attempts"] >= before["attempts"] + 2
        )
        assert stored_count(engine) == 0  # faulted: nothing stored, nothing acked
        rx.org["id"] = emu.organization_id
        assert _wait(lambda: emu.call("GET", "/_emulator/outbound")["pending"] == 0)
        status = emu.call("GET", "/_emulator/outbound")
        assert status["delivered"] - before["delivered"] == 3
        assert status["dropped"] == before["dropped"]
        t = ReceivedNotification.__table__  # type: ignore[attr-defined]
        with engine.connect() as conn:
            rows = conn.execute(select(t.c.sobject, t.c.sf_id, t.c.source)).all()
        assert sorted(r.sf_id for r in rows) == sorted(ids)
        assert {(r.sobject, r.source) for r in rows} == {("Account", "outbound")}
        assert rx.wakeups
    finally:
        emu.call("DELETE", "/_emulator/outbound/Account")
