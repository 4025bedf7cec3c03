"""Sync bookkeeping: change log, state, dead letters, API usage, runs, unique keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from connector.store import repo
from connector.store.bookkeeping import (
    OutboxItem,
    ReceivedNotification,
    SyncRun,
    TriggerFiring,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _table(model: Any) -> Any:
    return model.__table__


def test_state_round_trips_and_updates_only_given_fields(engine: Engine) -> None:
    """save_state creates, then changes only the fields passed; get_state reads them back."""
    with engine.begin() as conn:
        assert repo.get_state(conn, "partner") is None
        repo.save_state(conn, "partner", cursor=T0, backfill={"status": "running"})
        repo.save_state(conn, "partner", last_status="ok", last_error=None)
        state = repo.get_state(conn, "partner")
    assert state == repo.SyncStateRow(
        sobject="partner", cursor=T0, backfill={"status": "running"}, last_status="ok"
    )
    with engine.begin() as conn:
        repo.save_state(conn, "partner", cursor=T0 + timedelta(seconds=1), rows_total=5)
        moved = repo.get_state(conn, "partner")
    assert moved is not None
    assert moved.cursor == T0 + timedelta(seconds=1)
    assert moved.backfill == {"status": "running"}
    assert moved.rows_total == 5


def test_save_state_rejects_unknown_fields(engine: Engine) -> None:
    """A misspelt field is a TypeError, not a silently lost cursor."""
    with pytest.raises(TypeError, match="curser"), engine.begin() as conn:
        repo.save_state(conn, "partner", curser=T0)


def test_state_with_no_fields_just_creates_the_row(engine: Engine) -> None:
    """save_state(conn, name) with nothing to set makes an empty row once."""
    with engine.begin() as conn:
        repo.save_state(conn, "deal")
        repo.save_state(conn, "deal")
        assert repo.get_state(conn, "deal") == repo.SyncStateRow(sobject="deal")


def test_dead_letters_are_listed_counted_and_resolved(engine: Engine) -> None:
    """Dead letters keep their payload; resolving removes them from the default views."""
    with engine.begin() as conn:
        first = repo.add_dead_letter(
            conn,
            kind="inbound",
            entity="deal",
            sobject="Opportunity",
            sf_id="006A",
            payload={"Amount": "abc", "CloseDate": datetime(2026, 1, 1, tzinfo=UTC)},
            code="MAPPING_ERROR",
            message="amount: not a number",
        )
        second = repo.add_dead_letter(conn, kind="outbound", entity="partner", code="X")
        assert repo.count_dead_letters(conn) == 2
        assert repo.count_dead_letters(conn, entity="deal") == 1
        listed = repo.list_dead_letters(conn, entity="deal")
        assert repo.resolve_dead_letters(conn, [first]) == 1
        assert repo.resolve_dead_letters(conn, [first]) == 0
        remaining = repo.list_dead_letters(conn)
        everything = repo.list_dead_letters(conn, include_resolved=True)
        assert repo.count_dead_letters(conn, entity="deal") == 0
    assert second > first
    assert [d.id for d in listed] == [first]
    assert listed[0].payload == {"Amount": "abc", "CloseDate": "2026-01-01T00:00:00+00:00"}
    assert (listed[0].code, listed[0].message, listed[0].sf_id) == (
        "MAPPING_ERROR",
        "amount: not a number",
        "006A",
    )
    assert [d.id for d in remaining] == [second]
    assert [d.id for d in everything] == [first, second]
    assert everything[0].resolved_at is not None


def test_latest_api_usage_is_the_newest_sample(engine: Engine) -> None:
    """record_api_usage appends; latest_api_usage returns the newest one."""
    with engine.begin() as conn:
        assert repo.latest_api_usage(conn) is None
        repo.record_api_usage(conn, used=10, max=1000, calls=3, at=T0)
        repo.record_api_usage(conn, used=12, max=1000, calls=2, at=T0 + timedelta(minutes=1))
        latest = repo.latest_api_usage(conn)
    assert latest == {"at": T0 + timedelta(minutes=1), "used": 12, "max": 1000, "calls": 2}


def test_sync_runs_record_start_and_finish(engine: Engine) -> None:
    """A run starts 'running' and ends with its status and counts."""
    with engine.begin() as conn:
        repo.start_sync_run(conn, "run-1", "poll", started_at=T0)
        repo.finish_sync_run(conn, "run-1", status="ok", counts={"partner": 3})
        row = conn.execute(select(_table(SyncRun))).mappings().one()
    assert (row["kind"], row["status"], row["counts"]) == ("poll", "ok", {"partner": 3})
    assert row["started_at"] == T0
    assert row["finished_at"] is not None


@pytest.mark.parametrize(
    ("model", "values"),
    [
        (TriggerFiring, {"key": "auto-approve:a01:v1", "trigger_id": "t", "entity": "deal"}),
        (
            OutboxItem,
            {"id": "out-1", "entity": "partner", "sobject": "Account", "operation": "update"},
        ),
        (ReceivedNotification, {"notification_id": "n-1", "sobject": "Account"}),
    ],
    ids=["trigger_firing.key", "outbox_item.id", "received_notification.notification_id"],
)
def test_idempotency_keys_reject_duplicates(
    engine: Engine, model: Any, values: dict[str, Any]
) -> None:
    """Invariant 3: a second row with the same key fails with IntegrityError."""
    table = _table(model)
    with engine.begin() as conn:
        conn.execute(insert(table).values(**values))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(table).values(**values))
    with engine.connect() as conn:
        assert len(conn.execute(select(table)).all()) == 1


def test_outbox_defaults(engine: Engine) -> None:
    """A new outbox item is pending with no attempts and timestamps set."""
    table = _table(OutboxItem)
    with engine.begin() as conn:
        conn.execute(
            insert(table).values(id="o", entity="partner", sobject="Account", operation="update")
        )
        row = conn.execute(select(table)).mappings().one()
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["created_at"].tzinfo == UTC


def test_json_columns_accept_decimals_and_dates(engine: Engine) -> None:
    """The engine's JSON serializer writes Decimals as numbers and dates as ISO text."""
    from datetime import date
    from decimal import Decimal

    with engine.begin() as conn:
        repo.start_sync_run(conn, "run-2", "reconcile")
        repo.finish_sync_run(
            conn, "run-2", status="ok", counts={"amount": Decimal("1.5"), "day": date(2026, 1, 2)}
        )
        counts = conn.execute(select(_table(SyncRun).c.counts)).scalar_one()
    assert counts == {"amount": 1.5, "day": "2026-01-02"}
