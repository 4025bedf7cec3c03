"""Editing triggers.yaml while the daemon runs: the whole rule environment is rebuilt once,
logged once, and every path of the daemon (poll cycles, push, scheduled rules) uses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.store.trigger_log import TriggerDecision

from .conftest import sf_env, write_config
from .daemons import DaemonProcess, wait_for

pytestmark = pytest.mark.slow

RULES = """\
triggers:
  - id: {rule}
    entity: deal
    on: [updated]
    stage: dry_run
    mode: every_time
    when: new.amount > 0.0
    actions:
      - set_field: {{field: name, value: "'{rule}'"}}
"""
DECISIONS = TriggerDecision.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    """The demo org."""
    with running_emulator(seed="demo") as handle:
        yield handle


def _rules_seen(engine: Engine, sf_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(DECISIONS.c.trigger_id).where(
            DECISIONS.c.sf_id == sf_id).order_by(DECISIONS.c.id)).scalars())


def _edit_deal(emu: EmulatorHandle, amount: float) -> str:
    deal = emu.call("GET", "/services/data/v62.0/query", params={
        "q": "SELECT Id FROM Opportunity ORDER BY Id LIMIT 1"})["records"][0]["Id"]
    emu.call("PATCH", f"/services/data/v62.0/sobjects/Opportunity/{deal}",
             json={"Amount": amount})
    return str(deal)


def test_an_edited_triggers_yaml_is_loaded_once_and_used_everywhere(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path
) -> None:
    """The daemon runs rule `before`; triggers.yaml is edited to rule `after`: one
    `daemon.rules_reloaded` however many cycles follow, and the next change is decided by
    `after` alone. A broken edit is logged once (`daemon.rules_reload_failed`) and the rules
    before it stay in use."""
    emu.reset("demo")
    url = engine.url.render_as_string(hide_password=False)
    config = write_config(tmp_path, {"signpost_skew_seconds": "0"})
    triggers = tmp_path / "triggers.yaml"
    triggers.write_text(RULES.format(rule="before"))
    d = DaemonProcess(config, sf_env(emu, url), poll_interval=0.3)
    ok = False
    try:
        assert d.wait_event("daemon.sync_done"), d.output()
        deal = _edit_deal(emu, 1234.0)
        assert wait_for(lambda: _rules_seen(engine, deal) == ["before"], 30), d.output()

        triggers.write_text(RULES.format(rule="after"))
        assert d.wait_event("daemon.rules_reloaded"), d.output()
        synced = d.count("daemon.sync_done")
        assert d.wait_event("daemon.sync_done", times=synced + 3), d.output()
        assert d.count("daemon.rules_reloaded") == 1
        [event] = [e for e in d.events if e.get("event") == "daemon.rules_reloaded"]
        assert event["triggers"] == 1
        _edit_deal(emu, 2345.0)
        assert wait_for(lambda: _rules_seen(engine, deal) == ["before", "after"], 30), \
            d.output()

        triggers.write_text("triggers:\n  - id: broken\n    entity: nope\n")
        assert d.wait_event("daemon.rules_reload_failed"), d.output()
        synced = d.count("daemon.sync_done")
        assert d.wait_event("daemon.sync_done", times=synced + 3), d.output()
        assert d.count("daemon.rules_reload_failed") == 1
        _edit_deal(emu, 3456.0)  # still decided by the rules loaded before the broken edit
        assert wait_for(lambda: _rules_seen(engine, deal) == ["before", "after", "after"],
                        30), d.output()
        assert d.count("daemon.rules_reloaded") == 1
        ok = True
    finally:
        code = d.terminate()
        d.close()
    assert ok and code == 0
