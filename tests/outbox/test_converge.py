"""The ownership rule of write-back convergence, field by field (`outbox/converge.py`): `out`
fields are the store's, `both` fields follow their conflict policy, `in` fields are never
written."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, update
from triggers.trigtools import ROOT, Store

from connector.mapping import MappingSpec, loads_mapping
from connector.outbox.converge import converge_page
from connector.store.models import entity_table
from connector.store.records import load_snapshots

EARLY = datetime(2026, 1, 1, tzinfo=UTC)
LATE = datetime(2030, 1, 1, tzinfo=UTC)


def _spec(policy: str) -> MappingSpec:
    text = (ROOT / "config" / "mapping.yaml").read_text().replace(
        "status:              {crm: Status__c, direction: both}",
        f"status:              {{crm: Status__c, direction: both, conflict: {policy}}}")
    return loads_mapping(text)


def _compare(engine: Engine, spec: MappingSpec, sf_id: str, org: dict[str, Any]
             ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(fields queued for the record or None, the org row after the comparison)."""
    row = {"Id": sf_id, "Name": "Reg", **org}
    entity = spec.entities["deal_registration"]
    with engine.connect() as conn:
        snaps = {k: v.values for k, v in load_snapshots(conn, entity.name, [sf_id]).items()}
        found, writes = converge_page(conn, entity, [row], snaps, cause="converge:t")
    assert found.checked == 1
    return (writes[0].fields if writes else None), row


def _registration(engine: Engine, spec: MappingSpec, store_status: str) -> str:
    store = Store(engine, spec)
    sf_id, local_id = store.put("deal_registration", {"name": "Reg", "status": "Submitted"})
    table = entity_table("deal_registration")
    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == local_id)
                     .values(status=store_status, updated_at=datetime(2028, 1, 1, tzinfo=UTC)))
    return sf_id


@pytest.mark.parametrize("policy", ["crm_wins", "prm_wins", "newest_wins"])
def test_a_both_field_only_the_store_changed_is_written_whatever_the_policy(
    engine: Engine, policy: str
) -> None:
    """The org still holds what was last read: no conflict, the store's value goes out and
    the row read is left as it is."""
    spec = _spec(policy)
    sf_id = _registration(engine, spec, "Approved")
    fields, row = _compare(engine, spec, sf_id, {"Status__c": "Submitted"})
    assert fields == {"Status__c": "Approved"}
    assert row["Status__c"] == "Submitted"


@pytest.mark.parametrize(("policy", "org_at", "store_wins"), [
    ("crm_wins", EARLY, False), ("prm_wins", LATE, True),
    ("newest_wins", EARLY, True), ("newest_wins", LATE, False),
])
def test_a_both_field_changed_on_both_sides_follows_its_policy(
    engine: Engine, policy: str, org_at: datetime, store_wins: bool
) -> None:
    """The org moved (a person set Rejected) and so did the store (Approved): crm_wins keeps
    Salesforce's value, prm_wins writes the store's, newest_wins the later of the two (the
    store row changed in 2028). When the store wins, the row is applied with its value."""
    spec = _spec(policy)
    sf_id = _registration(engine, spec, "Approved")
    stamp = org_at.isoformat().replace("+00:00", ".000+0000")
    fields, row = _compare(engine, spec, sf_id, {"Status__c": "Rejected",
                                                 "SystemModstamp": stamp})
    if store_wins:
        assert fields == {"Status__c": "Approved"} and row["Status__c"] == "Approved"
    else:
        assert fields is None and row["Status__c"] == "Rejected"


def test_out_fields_are_written_unless_the_store_has_no_value(engine: Engine) -> None:
    """A partner's points differ from the org's: written. Its tier is null in the store (no
    opinion): the org's value stays. Its name (an `in` field) differs: never written."""
    spec = _spec("crm_wins")
    store = Store(engine, spec)
    sf_id, _ = store.put("partner", {"name": "Acme", "is_partner": True, "points": 600.0})
    entity = spec.entities["partner"]
    row = {"Id": sf_id, "Name": "Acme Renamed", "IsPartner": True, "Partner_Points__c": 300,
           "Partner_Tier__c": "Gold", "Certifications__c": None}
    with engine.connect() as conn:
        found, writes = converge_page(conn, entity, [row], {}, cause="converge:t")
        again, none = converge_page(conn, entity, [{**row, "Partner_Points__c": 600.0}], {},
                                    cause="converge:t")
    assert [w.fields for w in writes] == [{"Partner_Points__c": 600.0}]
    assert writes[0].meta == {"converge": True} and writes[0].sf_id == sf_id
    assert found.fields == {"Partner_Points__c": 1}
    assert (again.repaired, none) == (0, [])
