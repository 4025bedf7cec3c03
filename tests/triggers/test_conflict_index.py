"""Conflict detection through the stored customer keys: every writer keys a registration,
the migration keys the rows it finds, and the check is an index lookup."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, select, text

from connector.store import migrate
from connector.store.models import entity_table
from connector.triggers.conflict import find_conflict

from .trigtools import NOW, Store, days_ago
from dbfixtures import drop_test_engine, make_test_engine

REG = entity_table("deal_registration")


def _keys(engine: Engine, local_id: int) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(REG.c.customer_name_key, REG.c.customer_domain_key)
                           .where(REG.c.id == local_id)).one()
    return row[0], row[1]


def test_every_write_keys_the_registration_and_a_rename_rekeys_it(engine: Engine) -> None:
    """Synced rows get normalised keys; changing the customer's name changes its key, so the
    old name no longer conflicts and the new one does."""
    s = Store(engine)
    _, p1 = s.partner("First")
    _, p2 = s.partner("Second")
    sf, first = s.put("deal_registration", {
        "name": "REG-1", "partner": p1, "end_customer_name": "ACME, Inc.",
        "end_customer_domain": "https://www.Acme.com/x", "status": "Submitted",
        "registered_date": days_ago(3)})
    assert _keys(engine, first) == ("acme", "acme.com")
    later = {"id": 10**6, "partner": p2, "end_customer_name": "Acme Incorporated",
             "registered_date": days_ago(1)}
    with engine.connect() as conn:
        found = find_conflict(conn, later)
    assert found is not None and found.local_id == first

    s.put("deal_registration", {"end_customer_name": "Globex Corp",
                                "end_customer_domain": None}, sf_id=sf)
    assert _keys(engine, first) == ("globex", None)
    with engine.connect() as conn:
        assert find_conflict(conn, later) is None
        renamed = find_conflict(conn, {**later, "end_customer_name": "globex"})
    assert renamed is not None and renamed.local_id == first


def test_a_domain_alone_finds_the_earlier_registration_of_another_partner(
    engine: Engine,
) -> None:
    """Same domain, different spelling of the name: a conflict; the same partner's own
    registration, or one outside the protection window, is none."""
    s = Store(engine)
    _, p1 = s.partner("First")
    _, p2 = s.partner("Second")
    _, old = s.put("deal_registration", {
        "name": "OLD", "partner": p1, "end_customer_name": "Initech",
        "end_customer_domain": "initech.com", "status": "Approved",
        "registered_date": days_ago(200)})
    _, recent = s.put("deal_registration", {
        "name": "RECENT", "partner": p1, "end_customer_name": "Initech Systems",
        "end_customer_domain": "jane@INITECH.com", "status": "Submitted",
        "registered_date": days_ago(10)})
    mine = {"id": 10**6, "partner": p2, "end_customer_name": "Something else",
            "end_customer_domain": "initech.com", "registered_date": NOW.date()}
    with engine.connect() as conn:
        found = find_conflict(conn, mine, window_days=90)
        own = find_conflict(conn, {**mine, "partner": p1}, window_days=90)
    assert found is not None and found.local_id == recent and found.local_id != old
    assert own is None


def test_the_lookup_uses_the_key_indexes(engine: Engine) -> None:
    """The candidates are read through ix_deal_registration_customer_*_key (on PostgreSQL
    with sequential scans discouraged: on an empty table its planner would rightly scan)."""
    sqlite = engine.dialect.name == "sqlite"
    explain = "EXPLAIN QUERY PLAN" if sqlite else "EXPLAIN"
    with engine.begin() as conn:
        if not sqlite:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        for column in ("customer_name_key", "customer_domain_key"):
            plan = " ".join(str(r[-1]) for r in conn.execute(text(
                f"{explain} SELECT id FROM deal_registration WHERE {column} = 'acme' "
                "AND is_deleted = false AND status IN ('Submitted', 'Approved')")))
            assert f"ix_deal_registration_{column}" in plan, plan


def test_the_migration_keys_the_registrations_already_in_the_store(
    db_kind: str, tmp_path: Path
) -> None:
    """A store at 0009 with registrations in it: after migrating, each has its keys."""
    from alembic import command

    from connector.store.engine import _alembic_config

    eng = make_test_engine(db_kind, tmp_path)
    try:
        cfg = _alembic_config()
        with eng.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0009_partner_facts")
            conn.execute(text(
                "INSERT INTO deal_registration (sf_id, is_deleted, end_customer_name, "
                "end_customer_domain, status, created_at, updated_at) VALUES "
                "('a0X1', false, 'The Hooli Company', 'www.hooli.com', 'Submitted', "
                ":now, :now), ('a0X2', false, NULL, NULL, 'Submitted', :now, :now)"),
                {"now": NOW})
        assert "customer_name_key" not in {
            c["name"] for c in inspect(eng).get_columns("deal_registration")}
        migrate(eng)
        with eng.connect() as conn:
            rows = conn.execute(select(REG.c.sf_id, REG.c.customer_name_key,
                                       REG.c.customer_domain_key).order_by(REG.c.sf_id)).all()
        assert [tuple(r) for r in rows] == [("a0X1", "hooli", "hooli.com"), ("a0X2", None, None)]
    finally:
        drop_test_engine(eng)


def test_a_registration_with_a_nul_in_its_text_is_stored_and_decided(engine: Engine) -> None:
    """A registration whose end customer name holds a NUL (PostgreSQL cannot store one) is
    applied by the sync path (escaped there, see sync/storable.py) and decided by the
    built-in rule like any other; a later registration of the same customer conflicts."""
    from connector.sync.apply import apply_page
    from connector.sync.storable import unescape_nul

    s = Store(engine)
    partner_sf, partner = s.partner("Certified")
    s.put("certification", {"name": "C", "partner": partner}, log=False)
    row = {
        "attributes": {"type": "Deal_Registration__c"}, "Id": "a0R000000000001AAA",
        "SystemModstamp": "2026-11-29T10:00:00.000+0000", "LastModifiedById": "005USER",
        "Name": "DR-NUL", "Partner__c": partner_sf, "End_Customer_Name__c": "Acme\x00 Corp",
        "End_Customer_Domain__c": None, "Amount__c": 5000.0, "Status__c": "Submitted",
        "Registered_Date__c": days_ago(1).isoformat(),
    }
    with engine.begin() as conn:
        result = apply_page(conn, s.spec.entities["deal_registration"], [row], cycle_id="c1",
                            source="push")
    assert result.rejected_ids == [] and len(result.diffs) == 1
    report = s.run(s.shipped_rules())
    assert report.fired == 1 and report.errors == 0
    [stored] = [r for r in s.rows("deal_registration") if r["sf_id"] == row["Id"]]
    assert stored["status"] == "Approved"
    assert unescape_nul(stored["end_customer_name"]) == "Acme\x00 Corp"
    _, other = s.partner("Other")
    with engine.connect() as conn:
        found = find_conflict(conn, {"id": 10**6, "partner": other, "registered_date": NOW.date(),
                                     "end_customer_name": "ACME Corp"})
    assert found is not None and found.local_id == stored["id"]
