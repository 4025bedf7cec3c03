"""What the partner portal reads, kept by the store: a person's edit queues it in its own
transaction; the records follow `partner eligible`; a second refresh queues nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from connector.mapping import load_mapping
from connector.programs import ProgramsSpec
from connector.programs.local import record_points, record_step
from connector.programs.portal import eligibility_key, refresh_portal, wanted_records
from connector.programs.views import eligibility
from connector.store.bookkeeping import OutboxItem
from connector.store.models import entity_table

from .conftest import NOW, ROOT, add_partner

MAPPING = load_mapping(ROOT / "config" / "mapping.yaml")
ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]
SF_ID = "0015g0000000042AAA"


def _queued(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(
            select(ITEMS.c.entity, ITEMS.c.operation, ITEMS.c.sf_id, ITEMS.c.payload)
            .order_by(ITEMS.c.seq)).mappings()]


def test_a_persons_edit_queues_the_portal_records_with_it(
    engine: Engine, default_spec: ProgramsSpec
) -> None:
    with engine.begin() as conn:
        pid = add_partner(conn, "Acme", sf_id=SF_ID, partner_type="Reseller")
    # without the mapping (a caller that does not write back) nothing is queued
    record_points(engine, default_spec, "Acme", 10, reason="kickoff", by="alice", now=NOW)
    assert _queued(engine) == []

    record_step(engine, default_spec, "Acme", "reseller-agreement", by="alice", now=NOW,
                mapping=MAPPING)
    queued = [q for q in _queued(engine) if q["entity"] == "eligibility"]
    with engine.connect() as conn:
        answer = eligibility(conn, default_spec, pid, NOW)
        rows = conn.execute(select(entity_table("eligibility"))).mappings().all()
    wanted = {(w.kind, w.key) for w in wanted_records(default_spec, answer)}
    assert wanted and {(r["kind"], r["key"]) for r in rows} == wanted
    assert {r["prm_key"] for r in rows} == {eligibility_key(SF_ID, k, key) for k, key in wanted}
    assert sorted(q["payload"]["external_id"] for q in queued) == sorted(
        r["prm_key"] for r in rows)
    assert {q["operation"] for q in queued} == {"upsert"}
    assert all(q["payload"]["fields"]["Partner__c"] == SF_ID for q in queued)

    # nothing changed: nothing queued
    before = len(_queued(engine))
    with engine.begin() as conn:
        again = refresh_portal(conn, MAPPING, default_spec, NOW, [pid], cause="again")
    assert (again.writes, again.entered, again.left, again.updated) == ([], 0, 0, 0)
    assert len(_queued(engine)) == before
