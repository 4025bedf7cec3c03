"""The consumer reads only the changes its rules watch, and still passes every other one once."""

from __future__ import annotations

from sqlalchemy import Engine

from connector.store.stream import get_offset, latest_seq
from connector.triggers import CONSUMER

from .trigtools import Store

POINTS = """
triggers:
  - id: deal-points
    entity: deal
    on: [created, updated]
    when: new.amount > 100.0
    mode: every_time
    actions: [{award_points: {points: 1}}]
"""


def test_watched_changes_between_unwatched_ones_fire_once_each(engine: Engine) -> None:
    """Deals among programs, a backfilled deal and an echo; one-entry batches: the three live
    deals fire once each, every entry is counted once, the offset ends at the log's end."""
    store = Store(engine)
    _, pid = store.partner()
    for n in range(3):
        store.put("program", {"name": f"P{n}"})
        store.put("deal", {"name": f"D{n}", "partner": pid, "amount": 500.0})
        store.put("deal", {"name": f"B{n}", "partner": pid, "amount": 500.0}, source="backfill")
    store.put("deal", {"name": "echo", "partner": pid, "amount": 500.0}, echo=True)
    store.put("program", {"name": "last"})
    with engine.connect() as conn:
        total = latest_seq(conn)
    report = store.run(store.rules(POINTS), batch_size=1)
    assert report.fired == 3 and report.already_fired == 0
    assert (report.changes, report.echoes) == (total, 1)
    assert report.batches == 4  # one per watched deal, then the unwatched rest
    assert store.row("partner", pid)["points"] == 3
    with engine.connect() as conn:
        assert get_offset(conn, CONSUMER) == total
    again = store.run(store.rules(POINTS), batch_size=1)
    assert (again.changes, again.fired, again.batches) == (0, 0, 0)
