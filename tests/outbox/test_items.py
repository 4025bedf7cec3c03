"""Outbox items: deterministic ids, queued in the caller's transaction, never twice."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from connector.outbox import OutboxWrite, enqueue, outbox_id
from connector.store.bookkeeping import OutboxItem

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


def _approve(cause: str = "auto-approve:a01X:3") -> OutboxWrite:
    return OutboxWrite(
        sobject="Deal_Registration__c",
        operation="update",
        sf_id="a01X",
        fields={"Status__c": "Approved", "Decision_Reason__c": "Certified partner"},
        cause=cause,
        entity="deal_registration",
        local_id=7,
    )


def test_the_same_cause_and_target_give_the_same_id() -> None:
    """A replayed firing computes the id it queued before; another cause gets another id."""
    assert outbox_id(_approve()) == outbox_id(_approve())
    assert outbox_id(_approve()) != outbox_id(_approve("auto-approve:a01X:4"))


def test_enqueue_twice_queues_once(engine: Engine) -> None:
    """Given a write queued and committed, when the same cause is replayed, nothing is added."""
    with engine.begin() as conn:
        first = enqueue(conn, [_approve()])
    with engine.begin() as conn:
        again = enqueue(conn, [_approve()])
        rows = conn.execute(select(ITEMS)).mappings().all()
    assert first == again
    assert len(rows) == 1
    row = rows[0]
    assert (row["status"], row["operation"], row["sf_id"], row["entity"]) == (
        "pending",
        "update",
        "a01X",
        "deal_registration",
    )
    assert row["payload"]["fields"] == {
        "Status__c": "Approved",
        "Decision_Reason__c": "Certified partner",
    }
    assert row["payload"]["cause"] == "auto-approve:a01X:3"


def test_an_upsert_carries_its_external_id_and_json_safe_values(engine: Engine) -> None:
    """Creates go through upsert by PRM_Key__c; dates are stored as ISO text."""
    write = OutboxWrite(
        sobject="PartnerFundAllocation",
        operation="upsert",
        external_id_field="PRM_Key__c",
        external_id="mdf:001A:2026Q3",
        fields={"Amount": 5000.0, "Title": "Q3 co-op", "StartDate": date(2026, 7, 1)},
        cause="quarterly-mdf:001A:2026Q3",
    )
    with engine.begin() as conn:
        enqueue(conn, [write])
        row = conn.execute(select(ITEMS)).mappings().one()
    assert row["payload"]["external_id"] == "mdf:001A:2026Q3"
    assert row["payload"]["fields"]["StartDate"] == "2026-07-01"


def test_rolled_back_cause_leaves_no_item(engine: Engine) -> None:
    """An effect and its write-back commit together: a rollback takes the item with it."""
    with pytest.raises(RuntimeError), engine.begin() as conn:
        enqueue(conn, [_approve()])
        raise RuntimeError("crash before the firing commits")
    with engine.connect() as conn:
        assert conn.execute(select(ITEMS)).first() is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operation": "update"}, "needs the record's sf_id"),
        ({"operation": "upsert"}, "needs an external id"),
        ({"operation": "update", "sf_id": "a01X", "cause": ""}, "needs its cause"),
    ],
)
def test_incomplete_writes_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A write that could not be sent (no target, no cause) fails where it is made."""
    base: dict[str, object] = {"sobject": "Account", "fields": {"Name": "x"}, "cause": "c"}
    with pytest.raises(ValueError, match=message):
        OutboxWrite(**{**base, **kwargs})  # type: ignore[arg-type]
