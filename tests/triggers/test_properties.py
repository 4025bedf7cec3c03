"""Properties of the consumer: order within a batch and repetition change no firing.

The batch's changes are decided and settled inside one transaction that is rolled back after
each example, so every example starts from the same store. The rules are the shipped
registration and deal rules, whose conditions read the record, the partner's certifications
and the registration conflict (decided by who registered first, not by processing order).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from connector.store import make_engine, migrate
from connector.store.bookkeeping import OutboxItem, TriggerFiring
from connector.store.models import entity_table
from connector.triggers import RuleSet
from connector.triggers.consumer import BatchProcessor, TriggersReport
from connector.triggers.engine import Change, Evaluator

from .trigtools import NOW, Store, days_ago

CUSTOMERS = ("Acme Inc", "ACME, Inc.", "Globex", "globex corporation", "Initech GmbH", "Hooli")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[Change]]]:
    """A store with partners, registrations and deals, and one change per record."""
    path: Path = tmp_path_factory.mktemp("props") / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    store = Store(engine)
    partners = []
    for n in range(3):
        _, pid = store.partner(f"Partner {n}")
        if n < 2:
            store.put("certification", {"name": "C", "partner": pid}, log=False)
        partners.append(pid)
    changes = []
    for n in range(10):
        sf, rid = store.put("deal_registration", {
            "name": f"DR-{n}", "partner": partners[n % 3],
            "end_customer_name": CUSTOMERS[n % len(CUSTOMERS)], "amount": 1000.0 * (n + 1),
            "status": "Submitted", "registered_date": days_ago(10 - n)}, log=False)
        changes.append(_change(store, "deal_registration", rid, sf))
    for n in range(4):
        sf, did = store.put("deal", {"name": f"D{n}", "partner": partners[n % 3],
                                     "amount": 10.0 * n, "is_won": True}, log=False)
        changes.append(_change(store, "deal", did, sf))
    yield store, changes
    engine.dispose()


def _change(store: Store, entity: str, local_id: int, sf_id: str) -> Change:
    row = store.row(entity, local_id)
    return Change(entity, "created", local_id, sf_id, row, None, f"created@{sf_id}")


def _outcome(engine: Engine, rules: RuleSet, changes: list[Change]) -> dict[str, Any]:
    """Firings, outbox items and registration statuses after one batch (then rolled back)."""
    firing = TriggerFiring.__table__  # type: ignore[attr-defined]
    outbox = OutboxItem.__table__  # type: ignore[attr-defined]
    reg = entity_table("deal_registration")
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            proc = BatchProcessor(conn, Store(engine).spec, rules, Evaluator(rules.rules, NOW),
                                  NOW, TriggersReport())
            for change in changes:
                proc.process(change)
            return {
                "firings": sorted(conn.execute(select(firing.c.key)).scalars()),
                "outbox": sorted(conn.execute(select(outbox.c.id)).scalars()),
                "statuses": sorted(conn.execute(select(reg.c.name, reg.c.status,
                                                       reg.c.decision_reason)).all()),
            }
        finally:
            trans.rollback()


_ONCE: dict[str, Any] = {}


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_shuffled_and_repeated_batches_end_in_the_same_firings(
    seeded: tuple[Store, list[Change]], data: st.DataObject
) -> None:
    """Any order of a batch's changes, or the batch twice, fires the same rules once each."""
    store, changes = seeded
    # the fixture's store is the same for every example: compile the rules and compute the
    # in-order outcome once (every outcome is rolled back)
    if _ONCE.get("store") is not store:
        rules = store.shipped_rules()
        _ONCE.update(store=store, rules=rules, baseline=_outcome(store.engine, rules, changes))
    rules, baseline = _ONCE["rules"], _ONCE["baseline"]
    assert len(baseline["firings"]) >= 10
    shuffled = data.draw(st.permutations(changes))
    assert _outcome(store.engine, rules, list(shuffled)) == baseline
    repeated = data.draw(st.lists(st.sampled_from(changes), max_size=8))
    assert _outcome(store.engine, rules, [*shuffled, *repeated]) == baseline


def test_conflicts_depend_on_who_registered_first_not_on_processing_order(
    seeded: tuple[Store, list[Change]],
) -> None:
    """The earliest registration of each customer is approved; later ones name it."""
    store, changes = seeded
    out = _outcome(store.engine, store.shipped_rules(), list(reversed(changes)))
    by_name = {name: (status, reason) for name, status, reason in out["statuses"]}
    assert by_name["DR-0"][0] == "Approved"  # Acme Inc, first received
    assert by_name["DR-1"][0] == "Pending Review" and "DR-0" in by_name["DR-1"][1]


