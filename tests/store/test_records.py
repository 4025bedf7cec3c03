"""Entity rows and snapshots: upsert, placeholders, deletes, export (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text

from connector.store import repo
from connector.store.models import entity_table

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _reg(sf_id: str, **values: Any) -> repo.RecordRow:
    base: dict[str, Any] = {"name": f"Reg {sf_id}", "status": "Submitted", "amount": 100.0}
    base.update(values)
    return repo.RecordRow(
        sf_id=sf_id, values=base, modstamp=T0, last_modified_by="005USER", hash="h-" + sf_id
    )


def _row(conn: Connection, entity: str, sf_id: str) -> dict[str, Any]:
    table = entity_table(entity)
    return dict(conn.execute(select(table).where(table.c.sf_id == sf_id)).mappings().one())


def test_upsert_inserts_then_updates_the_same_row(engine: Engine) -> None:
    """Given a new record, upsert inserts it; upserting the same sf_id updates that row."""
    with engine.begin() as conn:
        first = repo.upsert_records(conn, "deal_registration", [_reg("a01", amount=10.0)])
    later = T0 + timedelta(hours=1)
    with engine.begin() as conn:
        second = repo.upsert_records(
            conn,
            "deal_registration",
            [repo.RecordRow("a01", {"name": "Renamed", "amount": 20.5}, later, "005OTHER")],
        )
        row = _row(conn, "deal_registration", "a01")
    assert first == second == {"a01": row["id"]}
    assert row["name"] == "Renamed"
    assert row["amount"] == 20.5
    assert row["status"] == "Submitted"  # not in the second row's values: left as it was
    assert row["sf_modstamp"] == later
    assert row["sf_last_modified_by"] == "005OTHER"
    assert row["is_deleted"] is False


def test_typed_values_round_trip(engine: Engine) -> None:
    """Dates, floats, bools and tz-aware datetimes come back as the same Python values, in UTC."""
    stamp = datetime(2026, 3, 1, 14, 30, 5, 123456, tzinfo=timezone(timedelta(hours=2)))
    with engine.begin() as conn:
        repo.upsert_records(
            conn,
            "deal",
            [
                repo.RecordRow(
                    "006A",
                    {"name": "Big", "close_date": date(2026, 6, 30), "is_won": True, "amount": 1.5},
                    stamp,
                    None,
                )
            ],
        )
        row = _row(conn, "deal", "006A")
    assert row["close_date"] == date(2026, 6, 30)
    assert row["is_won"] is True
    assert row["sf_modstamp"] == stamp
    assert row["sf_modstamp"].tzinfo == UTC
    assert row["created_at"].tzinfo == UTC


def test_unknown_fields_go_to_extra_and_snapshot_keeps_all(engine: Engine) -> None:
    """Values that are not columns land in extra; the snapshot holds every value, JSON-safe."""
    rec = _reg("a02", registered_date=date(2026, 1, 2), region="EMEA", score=7)
    with engine.begin() as conn:
        ids = repo.upsert_records(conn, "deal_registration", [rec])
        row = _row(conn, "deal_registration", "a02")
        snaps = repo.load_snapshots(conn, "deal_registration", ["a02", "missing"])
    assert row["extra"] == {"region": "EMEA", "score": 7}
    assert row["registered_date"] == date(2026, 1, 2)
    snap = snaps["a02"]
    assert set(snaps) == {"a02"}
    assert snap.values["registered_date"] == "2026-01-02"
    assert snap.values["region"] == "EMEA"
    assert snap.local_id == ids["a02"]
    assert snap.hash == "h-a02"
    assert snap.modstamp == T0
    assert snap.deleted is False


def test_snapshot_is_replaced_on_update(engine: Engine) -> None:
    """A second upsert replaces the snapshot's values, hash and stamp."""
    later = T0 + timedelta(minutes=5)
    with engine.begin() as conn:
        repo.upsert_records(conn, "deal_registration", [_reg("a03")])
        repo.upsert_records(
            conn,
            "deal_registration",
            [repo.RecordRow("a03", {"status": "Approved"}, later, None, hash="h2")],
        )
        snap = repo.load_snapshots(conn, "deal_registration", ["a03"])["a03"]
    assert snap.values == {"status": "Approved"}
    assert (snap.hash, snap.modstamp) == ("h2", later)


def test_last_row_wins_when_an_id_repeats_in_a_batch(engine: Engine) -> None:
    """Two copies of one sf_id in a batch (a tie across pages) give one row, the later copy."""
    with engine.begin() as conn:
        ids = repo.upsert_records(
            conn, "deal_registration", [_reg("a04", amount=1.0), _reg("a04", amount=2.0)]
        )
        row = _row(conn, "deal_registration", "a04")
    assert list(ids) == ["a04"]
    assert row["amount"] == 2.0


def test_locally_computed_columns_survive_an_inbound_update(engine: Engine) -> None:
    """Out-only fields (partner.tier) are not in inbound values and are not nulled by upsert."""
    with engine.begin() as conn:
        repo.upsert_records(conn, "partner", [repo.RecordRow("001P", {"name": "Acme"}, T0)])
        table = entity_table("partner")
        conn.execute(table.update().where(table.c.sf_id == "001P").values(tier="Gold"))
        repo.upsert_records(conn, "partner", [repo.RecordRow("001P", {"name": "Acme Inc"}, T0)])
        row = _row(conn, "partner", "001P")
    assert (row["name"], row["tier"]) == ("Acme Inc", "Gold")


def test_resolve_links_creates_placeholders_that_the_real_row_fills(engine: Engine) -> None:
    """An unknown lookup target gets a placeholder row; the later upsert keeps its id."""
    with engine.begin() as conn:
        links = repo.resolve_links(conn, "partner", ["001X", "001Y", "001X", ""])
        again = repo.resolve_links(conn, "partner", ["001Y"])
        placeholder = _row(conn, "partner", "001X")
        assert repo.load_snapshots(conn, "partner", ["001X"]) == {}
        repo.upsert_records(conn, "deal_registration", [_reg("a05", partner=links["001X"])])
        ids = repo.upsert_records(conn, "partner", [repo.RecordRow("001X", {"name": "X"}, T0)])
        filled = _row(conn, "partner", "001X")
        count = conn.execute(text("SELECT count(*) FROM partner")).scalar_one()
    assert set(links) == {"001X", "001Y"}
    assert again == {"001Y": links["001Y"]}
    assert placeholder["name"] is None
    assert placeholder["is_deleted"] is False
    assert ids == {"001X": links["001X"]}
    assert filled["id"] == links["001X"]
    assert filled["name"] == "X"
    assert count == 2


def test_lookups_are_foreign_keys(engine: Engine) -> None:
    """A lookup to a local id that does not exist is refused by the database."""
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError), engine.begin() as conn:
        repo.upsert_records(conn, "deal_registration", [_reg("a06", partner=987654)])


def test_batches_larger_than_one_in_list_work(engine: Engine) -> None:
    """2,500 records (more than one 900-id chunk) upsert, resolve and load in full."""
    rows = [_reg(f"b{i:05d}") for i in range(2500)]
    with engine.begin() as conn:
        ids = repo.upsert_records(conn, "deal_registration", rows)
        snaps = repo.load_snapshots(conn, "deal_registration", [r.sf_id for r in rows])
        links = repo.resolve_links(conn, "deal_registration", [r.sf_id for r in rows])
        assert repo.mark_deleted(conn, "deal_registration", list(ids)) == 2500
    assert len(ids) == len(snaps) == 2500
    assert links == ids
    assert len(set(ids.values())) == 2500


def test_mark_deleted_flags_rows_and_snapshots_once(engine: Engine) -> None:
    """mark_deleted sets is_deleted and snapshot.deleted; a second call flags nothing new."""
    with engine.begin() as conn:
        repo.upsert_records(conn, "deal_registration", [_reg("a07"), _reg("a08")])
        assert repo.mark_deleted(conn, "deal_registration", ["a07", "unknown"]) == 1
        assert repo.mark_deleted(conn, "deal_registration", ["a07"]) == 0
        snaps = repo.load_snapshots(conn, "deal_registration", ["a07", "a08"])
        live = repo.live_snapshot_ids(conn, "deal_registration")
        deleted_row = _row(conn, "deal_registration", "a07")
        counts = (
            repo.count_entity(conn, "deal_registration"),
            repo.count_entity(conn, "deal_registration", include_deleted=True),
        )
    assert deleted_row["is_deleted"] is True
    assert (snaps["a07"].deleted, snaps["a08"].deleted) == (True, False)
    assert live == ["a08"]
    assert counts == (1, 2)


def test_undelete_by_upsert_clears_the_flag(engine: Engine) -> None:
    """A record restored from the recycle bin comes back live through upsert."""
    with engine.begin() as conn:
        repo.upsert_records(conn, "deal_registration", [_reg("a09")])
        repo.mark_deleted(conn, "deal_registration", ["a09"])
        repo.upsert_records(conn, "deal_registration", [_reg("a09")])
        row = _row(conn, "deal_registration", "a09")
        snap = repo.load_snapshots(conn, "deal_registration", ["a09"])["a09"]
    assert row["is_deleted"] is False
    assert snap.deleted is False


def test_iter_entity_pages_by_id_and_exposes_lookup_sf_ids(engine: Engine) -> None:
    """Export yields every row in id order, one page per query, lookups also as sf ids."""
    with engine.begin() as conn:
        parts = repo.resolve_links(conn, "partner", ["001A", "001B"])
        repo.upsert_records(
            conn,
            "membership",
            [
                repo.RecordRow(f"m{i:02d}", {"partner": parts["001A" if i % 2 else "001B"]}, T0)
                for i in range(10)
            ],
        )
    selects: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.connect() as conn:
            it = repo.iter_entity(conn, "membership", batch=3)
            first = [next(it) for _ in range(3)]
            assert len(selects) == 1  # lazily: one page read so far
            rows = first + list(it)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(selects) == 4  # 3 + 3 + 3 + 1
    assert [r["sf_id"] for r in rows] == [f"m{i:02d}" for i in range(10)]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert rows[1]["partner"] == parts["001A"]
    assert rows[1]["partner_sf_id"] == "001A"
    assert rows[0]["partner_sf_id"] == "001B"
    assert rows[0]["program"] is None
    assert rows[0]["program_sf_id"] is None
    assert {"is_deleted", "extra", "level_sf_id"} <= set(rows[0])


def test_iter_entity_on_an_empty_table_yields_nothing(engine: Engine) -> None:
    """No rows, no error."""
    with engine.connect() as conn:
        assert list(repo.iter_entity(conn, "task")) == []
        assert repo.count_entity(conn, "task") == 0


def test_empty_batches_are_no_ops(engine: Engine) -> None:
    """Empty inputs return empty results without touching the database."""
    with engine.begin() as conn:
        assert repo.upsert_records(conn, "deal", []) == {}
        assert repo.resolve_links(conn, "partner", []) == {}
        assert repo.load_snapshots(conn, "partner", []) == {}
        assert repo.mark_deleted(conn, "partner", []) == 0


def test_json_safe_round_trip() -> None:
    """to_json_safe writes dates as ISO text; from_json_safe reads them back by local type."""
    values = {"d": date(2026, 1, 2), "t": T0, "n": 1.5, "s": "x", "nested": {"d": date(2026, 1, 1)}}
    safe = repo.to_json_safe(values)
    assert safe == {
        "d": "2026-01-02",
        "t": "2026-03-01T12:00:00+00:00",
        "n": 1.5,
        "s": "x",
        "nested": {"d": "2026-01-01"},
    }
    back = repo.from_json_safe(safe, {"d": "date", "t": "datetime", "n": "float"})
    assert back["d"] == date(2026, 1, 2)
    assert back["t"] == T0
    assert back["s"] == "x"
