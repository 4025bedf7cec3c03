"""Writes are ordered by cause, not by clock: every outbox item carries the sequence it was
queued in, and the value the dispatcher sends for a field is the last one queued."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from connector.outbox import OutboxWrite, enqueue
from connector.outbox.dispatcher import Dispatcher
from connector.salesforce.results import RecordResult
from connector.settings import OutboxSettings
from connector.store.bookkeeping import OutboxItem, OutboxWritten

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]
WRITTEN = OutboxWritten.__table__  # type: ignore[attr-defined]
T0 = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


class RecordingClient:
    """Accepts every record and remembers the payloads it was sent, call by call."""

    user_id = "005INTEGRATION"

    def __init__(self) -> None:
        self.calls = 0
        self.sent: list[dict[str, Any]] = []

    def collection(self, op: str, sobject: str, payloads: list[dict[str, Any]],
                   external_id_field: str | None = None) -> list[RecordResult]:
        self.calls += 1
        self.sent.extend(dict(p) for p in payloads)
        return [RecordResult(i, p.get("Id"), True) for i, p in enumerate(payloads)]

    bulk_ingest = collection


def _points(n: int, record: str, value: int) -> OutboxWrite:
    return OutboxWrite("Account", "update", {"Partner_Points__c": float(value)}, f"change:{n}",
                       sf_id=record, entity="partner")


def _dispatch(engine: Engine) -> RecordingClient:
    client = RecordingClient()
    Dispatcher(engine, lambda: client, None, OutboxSettings(), clock=lambda: T0).run()
    return client


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every item gets the same created_at, as items queued in one transaction do."""
    monkeypatch.setattr("connector.outbox.items.utcnow", lambda: T0)


# transactions, each a list of (record, points value) writes, queued in that order
_TXS = st.lists(
    st.lists(st.tuples(st.sampled_from(["001A", "001B"]), st.integers(0, 10_000)),
             min_size=1, max_size=6),
    min_size=1, max_size=5,
)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(txs=_TXS)
def test_the_value_sent_is_the_last_queued_whatever_the_clock_says(
    engine: Engine, frozen_clock: None, txs: list[list[tuple[str, int]]]
) -> None:
    """Any interleaving of writes to records, in one or several transactions, all with one
    timestamp: the dispatcher sends each record's last value by sequence."""
    with engine.begin() as conn:
        conn.execute(delete(ITEMS))
        conn.execute(delete(WRITTEN))
    expected: dict[str, float] = {}
    n = 0
    for tx in txs:
        with engine.begin() as conn:
            writes = []
            for record, value in tx:
                writes.append(_points(n, record, value))
                expected[record] = float(value)
                n += 1
            enqueue(conn, writes)
    with engine.connect() as conn:
        seqs = conn.execute(select(ITEMS.c.seq).order_by(ITEMS.c.seq)).scalars().all()
        stamps = set(conn.execute(select(ITEMS.c.created_at)).scalars())
    assert len(stamps) == 1 and len(seqs) == n and len(set(seqs)) == n  # one clock, n places
    client = _dispatch(engine)
    got = {p["Id"]: p["Partner_Points__c"] for p in client.sent}
    assert got == expected


def test_three_points_changes_of_one_transaction_write_the_last(
    engine: Engine, frozen_clock: None
) -> None:
    """The reported case: 300, 600 then 450 ... whichever hashes sort first, the last
    queued value (here 600, queued last) is what Salesforce gets."""
    with engine.begin() as conn:
        enqueue(conn, [_points(1, "001P", 150), _points(2, "001P", 300),
                       _points(3, "001P", 600)])
    client = _dispatch(engine)
    assert client.sent == [{"Id": "001P", "Partner_Points__c": 600.0}]
    with engine.connect() as conn:
        assert conn.execute(select(WRITTEN.c.fields)).scalar_one() == {"Partner_Points__c": 600.0}


def test_sequences_keep_rising_across_transactions_and_replays(engine: Engine) -> None:
    """A replayed write (same id) keeps its place; a new one goes after every earlier one."""
    with engine.begin() as conn:
        enqueue(conn, [_points(1, "001A", 1), _points(2, "001A", 2)])
    with engine.begin() as conn:
        enqueue(conn, [_points(2, "001A", 2), _points(3, "001A", 3)])
    with engine.connect() as conn:
        rows = conn.execute(select(ITEMS.c.payload, ITEMS.c.seq).order_by(ITEMS.c.seq)).all()
    assert [r[0]["cause"] for r in rows] == ["change:1", "change:2", "change:3"]
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)



def test_claims_take_records_in_the_order_their_first_item_was_queued(
    engine: Engine, frozen_clock: None
) -> None:
    """Items of one transaction share created_at: the record queued first is claimed first,
    and a record's items come in queue order."""
    from connector.outbox.queue import claim

    with engine.begin() as conn:
        enqueue(conn, [_points(1, "001Z", 1), _points(2, "001A", 2), _points(3, "001Z", 3)])
    with engine.begin() as conn:
        first = claim(conn, "Account", "update", T0, 1)
    assert [(i.record_key, i.fields["Partner_Points__c"]) for i in first] == [
        ("001Z", 1.0), ("001Z", 3.0)]
    assert first[0].seq < first[1].seq
