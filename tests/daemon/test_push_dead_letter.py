"""A pushed record that cannot be stored is labelled ``dead_letter``, not ``unchanged``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from connector.daemon.inbox import Incoming, store_notifications
from connector.daemon.push import run_push
from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.service import open_runtime
from connector.store.bookkeeping import DeadLetter, ReceivedNotification

from .conftest import sf_env, write_config


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    """The demo org."""
    with running_emulator(seed="demo") as handle:
        yield handle


def test_a_pushed_row_the_mapping_rejects_is_dead_lettered_and_labelled_so(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path
) -> None:
    """A mapping that reads Product__c as a date cannot convert 'Analytics': the pushed
    registration goes to the dead letter, and its notification's outcome says dead_letter
    (it used to say unchanged, as if the store already held the record)."""
    url = engine.url.render_as_string(hide_password=False)
    config = write_config(tmp_path)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace(
        "product:             Product__c", "product:             {crm: Product__c, type: date}"))
    rt = open_runtime(config, env=sf_env(emu, url))
    emu.reset("demo")
    reg = emu.call("GET", "/services/data/v62.0/query", params={
        "q": "SELECT Id FROM Deal_Registration__c WHERE Product__c != null LIMIT 1"})["records"][0]
    store_notifications(engine, [Incoming("04l000000000000001", "Deal_Registration__c",
                                          reg["Id"])])

    try:
        _run, report = run_push(rt, stages=lambda: [])
    finally:
        rt.close()

    assert report.outcomes == {"dead_letter": 1}
    notes = ReceivedNotification.__table__  # type: ignore[attr-defined]
    dead = DeadLetter.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        outcome = conn.execute(select(notes.c.outcome)).scalar_one()
        parked = conn.execute(select(dead.c.sf_id, dead.c.code)).all()
    assert outcome == "dead_letter"
    assert [tuple(p) for p in parked] == [(reg["Id"], "MAPPING_ERROR")]
