"""Admin-defined entities: records.py's functions on an entity without a table of its own."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, select

from connector.store import repo
from connector.store.custom_records import CUSTOM

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _contact(sf_id: str, **values: Any) -> repo.RecordRow:
    base: dict[str, Any] = {"last_name": f"Doe {sf_id}", "email": f"{sf_id}@example.com"}
    base.update(values)
    return repo.RecordRow(sf_id, base, T0, "005USER", hash="h-" + sf_id)


def test_a_custom_entity_upserts_counts_and_exports_like_a_built_in_one(engine: Engine) -> None:
    """contact (no table of its own): upsert, update merges values, count, export, snapshots."""
    with engine.begin() as conn:
        ids = repo.upsert_records(conn, "contact", [_contact("003A", birthdate=date(1990, 5, 17)),
                                                    _contact("003B")])
    with engine.begin() as conn:
        again = repo.upsert_records(conn, "contact", [repo.RecordRow("003A", {"email": "new@x"})])
        rows = list(repo.iter_entity(conn, "contact",
                                     fields=["last_name", "email", "birthdate", "title"]))
        snaps = repo.load_snapshots(conn, "contact", ["003A", "003B"])
        assert repo.count_entity(conn, "contact") == 2
        assert repo.count_entity(conn, "partner") == 0  # nothing leaked into a built-in table
    assert again == {"003A": ids["003A"]}
    first = rows[0]
    assert first["id"] == ids["003A"] and first["sf_id"] == "003A"
    assert first["email"] == "new@x"  # the update replaced it
    assert first["last_name"] == "Doe 003A"  # not in the update: kept
    assert first["birthdate"] == "1990-05-17"  # typed JSON: a date as ISO text
    assert first["title"] is None  # asked for, never set
    assert first["sf_modstamp"] is None and first["is_deleted"] is False
    assert [r["sf_id"] for r in rows] == ["003A", "003B"]
    assert snaps["003B"].local_id == ids["003B"] and snaps["003B"].hash == "h-003B"


def test_two_custom_entities_share_the_table_without_mixing(engine: Engine) -> None:
    """The same sf_id under two entities is two records; each entity sees only its own."""
    with engine.begin() as conn:
        a = repo.upsert_records(conn, "contact", [_contact("SAME")])
        b = repo.upsert_records(conn, "lead", [repo.RecordRow("SAME", {"company": "Acme"})])
        assert a["SAME"] != b["SAME"]
        assert [r["company"] for r in repo.iter_entity(conn, "lead", fields=["company"])] == [
            "Acme"]
        assert repo.count_entity(conn, "contact") == repo.count_entity(conn, "lead") == 1


def test_lookups_between_custom_and_built_in_entities_resolve_both_ways(engine: Engine) -> None:
    """contact.account -> partner (a placeholder first), partner.primary_contact -> contact."""
    with engine.begin() as conn:
        partner = repo.resolve_links(conn, "partner", ["001P"])["001P"]
        contact_ids = repo.upsert_records(conn, "contact", [_contact("003A", account=partner)])
        repo.upsert_records(conn, "partner", [
            repo.RecordRow("001P", {"name": "Acme", "primary_contact": contact_ids["003A"]})])
        placeholder = repo.resolve_links(conn, "contact", ["003Z"])
        contacts = list(repo.iter_entity(conn, "contact", fields=["last_name", "account"],
                                         lookups={"account": "partner"}))
        partners = list(repo.iter_entity(conn, "partner", fields=["name", "primary_contact"],
                                         lookups={"primary_contact": "contact"}))
    assert contacts[0]["account"] == partner and contacts[0]["account_sf_id"] == "001P"
    assert contacts[1]["sf_id"] == "003Z" and contacts[1]["id"] == placeholder["003Z"]
    assert contacts[1]["last_name"] is None  # a placeholder has no values yet
    assert partners[0]["primary_contact"] == contact_ids["003A"]  # from extra, flattened
    assert partners[0]["primary_contact_sf_id"] == "003A"


def test_deleting_custom_records_flags_rows_and_snapshots(engine: Engine) -> None:
    """mark_deleted counts rows newly flagged; count_entity leaves them out unless asked."""
    with engine.begin() as conn:
        repo.upsert_records(conn, "contact", [_contact("003A"), _contact("003B")])
        assert repo.mark_deleted(conn, "contact", ["003A", "003X"]) == 1
        assert repo.mark_deleted(conn, "contact", ["003A"]) == 0
        assert repo.count_entity(conn, "contact") == 1
        assert repo.count_entity(conn, "contact", include_deleted=True) == 2
        assert repo.live_snapshot_ids(conn, "contact") == ["003B"]
        flags = dict(conn.execute(select(CUSTOM.c.sf_id, CUSTOM.c.is_deleted)).all())
    assert flags == {"003A": True, "003B": False}
