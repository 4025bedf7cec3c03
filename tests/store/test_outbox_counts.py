"""``outbox_count``, kept by triggers on ``outbox_item``, always equals a recount of the items,
whatever writes them (insert, upsert, status and code changes, delete), on a migrated store and
on a fresh one (``create_all``), on SQLite and PostgreSQL; the change log's consumer lag is the
distance in sequence numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, update

from connector.outbox.admin import count_items, dead_by_code, outbox_summary, status_counts
from connector.outbox.queue import ITEMS
from connector.store.bookkeeping import OutboxCount
from connector.store.sqlutil import upsert_stmt

from dbfixtures import drop_test_engine, make_test_engine

COUNTS = OutboxCount.__table__  # type: ignore[attr-defined]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _item(i: int, status: str, code: str | None = None) -> dict[str, Any]:
    return {"id": f"item{i:04d}", "entity": "partner", "local_id": i, "sobject": "Account",
            "operation": "update", "status": status, "error_code": code, "created_at": T0,
            "updated_at": T0, "record_key": f"k{i}"}


def _recount(conn: Connection) -> dict[tuple[str, str], int]:
    c = ITEMS.c
    return {(str(s), str(e or "")): int(n) for s, e, n in conn.execute(
        select(c.status, c.error_code, func.count()).group_by(c.status, c.error_code))}


def _kept(conn: Connection) -> dict[tuple[str, str], int]:
    return {(str(s), str(e)): int(n) for s, e, n in conn.execute(
        select(COUNTS.c.status, COUNTS.c.error_code, COUNTS.c.n)) if n}


def _exercise(engine: Engine) -> None:
    c = ITEMS.c
    with engine.begin() as conn:
        conn.execute(insert(ITEMS), [_item(i, "pending") for i in range(10)])
        assert _kept(conn) == _recount(conn) == {("pending", ""): 10}
        conn.execute(update(ITEMS).where(c.local_id < 4).values(
            status="dead", error_code="STRING_TOO_LONG"))
        conn.execute(update(ITEMS).where(c.local_id == 4).values(status="done"))
        conn.execute(update(ITEMS).where(c.local_id == 5).values(attempts=3))  # no change
        assert _kept(conn) == _recount(conn)
        conn.execute(update(ITEMS).where(c.local_id == 0).values(error_code="DUPLICATE_VALUE"))
        conn.execute(update(ITEMS).where(c.local_id == 1).values(status="pending",
                                                                 error_code=None))
        conn.execute(delete(ITEMS).where(c.local_id.in_([2, 9])))
        stmt = upsert_stmt(conn, ITEMS).values(_item(3, "pending"))
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"],
                                                set_={"status": "pending",
                                                      "error_code": None}))
        conn.execute(upsert_stmt(conn, ITEMS).values(_item(20, "pending"))
                     .on_conflict_do_nothing(index_elements=["id"]))
        assert _kept(conn) == _recount(conn)
        assert status_counts(conn) == {"pending": 7, "dead": 1, "done": 1, "dropped": 0}
        assert outbox_summary(conn)["pending"] == 7
        assert count_items(conn, status="dead") == (1, T0, True)
        assert count_items(conn) == (9, T0, True)
        assert count_items(conn, error_code="DUPLICATE_VALUE") == (1, T0, True)
        assert count_items(conn, status="dead", error_code="STRING_TOO_LONG")[0] == 0
        assert count_items(conn, status="pending", sobject="Account", bound=3) == (3, T0, False)
        assert count_items(conn, status="pending", sobject="Account") == (7, T0, True)
        assert [(g["code"], g["count"]) for g in dead_by_code(conn)] == [("DUPLICATE_VALUE", 1)]


def test_counts_follow_every_write_on_a_migrated_store(engine: Engine) -> None:
    _exercise(engine)


def test_counts_follow_every_write_on_a_fresh_store(db_kind: str, tmp_path: Path) -> None:
    """A store made by create_all (no Alembic) gets the same triggers."""
    from connector.store import migrate

    eng = make_test_engine(db_kind, tmp_path)
    try:
        migrate(eng)  # an empty database: the models' create_all
        _exercise(eng)
    finally:
        drop_test_engine(eng)


def test_consumer_lag_is_the_distance_in_sequence_numbers(engine: Engine) -> None:
    from connector.store.bookkeeping import ChangeLog
    from connector.store.stream import commit_offset, consumer_lag

    log = ChangeLog.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(insert(log), [
            {"id": i, "cycle_id": "c", "entity": "deal", "sf_id": f"006{i:015d}",
             "local_id": i, "op": "updated", "changed": ["amount"], "origin": "human",
             "recorded_at": T0, "source": "poll", "echo": False} for i in range(1, 31)])
        commit_offset(conn, "triggers", 30)
        commit_offset(conn, "outbox", 12)
        lag = consumer_lag(conn)
    assert lag["latest_seq"] == 30
    assert {c["consumer"]: c["behind"] for c in lag["consumers"]} == {
        "outbox": 18, "triggers": 0}
