"""The inbound page pipeline step by step (classify, map, resolve, persist), on a real store
without the emulator; and a page with poison rows, which are dead-lettered by field."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from connector.mapping import MappingSpec, load_mapping
from connector.store import models, repo
from connector.store.bookkeeping import ChangeLog
from connector.store.records import SnapshotRow
from connector.sync.apply import apply_page
from connector.sync.classify import Incoming, classify, latest_per_id
from connector.sync.maprows import map_rows
from connector.sync.persist import log_changes, plan_diffs, plan_records, write_isolated
from connector.sync.resolve import resolve_lookups
from connector.sync.storable import unescape_nul

from dbfixtures import engine  # noqa: F401  (pytest fixture)

SPEC: MappingSpec = load_mapping(Path(__file__).resolve().parents[2] / "config" / "mapping.yaml")
DEAL = SPEC.entities["deal"]
CERT = SPEC.entities["certification"]
T0 = "2026-11-01T10:00:00.000+0000"
T1 = "2026-11-01T11:00:00.000+0000"


def opp(sf_id: str, stamp: str = T0, **fields: Any) -> dict[str, Any]:
    """A raw Opportunity row as a REST query returns it."""
    row = {
        "attributes": {"type": "Opportunity"},
        "Id": sf_id,
        "SystemModstamp": stamp,
        "LastModifiedById": "005000000000001AAA",
        "IsDeleted": False,
        "Name": f"Deal {sf_id}",
        "AccountId": "001000000000009AAA",
        "PartnerAccountId": "001000000000001AAA",
        "Amount": 1000.0,
        "StageName": "Prospecting",
        "CloseDate": "2026-12-31",
        "IsClosed": False,
        "IsWon": False,
    }
    row.update(fields)
    return row


def snap(stamp: str, *, deleted: bool = False) -> SnapshotRow:
    parsed = datetime.fromisoformat(stamp.replace("+0000", "+00:00"))
    return SnapshotRow(
        values={"name": "x"}, modstamp=parsed, hash=None, deleted=deleted, local_id=7
    )


def test_classify_dedupes_on_id_and_stamp_and_sorts_deletes() -> None:
    """Same stamp: skipped; newer: upsert; a delete of a live row: delete; of an unknown
    or already deleted row: skipped; a page holding one Id twice keeps the newest copy."""
    rows = [
        opp("A", T0),
        opp("B", T1),
        opp("C", T1, IsDeleted=True),
        opp("D", T1, IsDeleted=True),
        opp("E", T0),
        opp("E", T1, Name="newer"),
    ]
    snaps = {"A": snap(T0), "B": snap(T0), "C": snap(T0), "D": snap(T0, deleted=True)}
    out = classify(latest_per_id(rows), snaps)
    assert [i.sf_id for i in out.upserts] == ["B", "E"]
    assert out.upserts[1].row["Name"] == "newer"
    assert [i.sf_id for i in out.deletes] == ["C"]
    assert out.skipped == 2
    assert out.max_modstamp == datetime(2026, 11, 1, 11, tzinfo=UTC)
    forced = classify(latest_per_id([opp("A", T0)]), snaps, force=True)
    assert [i.sf_id for i in forced.upserts] == ["A"]


def _incoming(*rows: dict[str, Any]) -> list[Incoming]:
    return classify(latest_per_id(list(rows)), {}).upserts


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_map_rows_rejects_by_field_what_mapping_or_store_cannot_take(dialect: str) -> None:
    """A bad date or NaN is a mapping error; a NUL is kept: as it is on SQLite, escaped
    reversibly on PostgreSQL (which cannot store it)."""
    rows = _incoming(
        opp("A"),
        opp("B", CloseDate="not a date"),
        opp("C", Amount=math.nan),
        opp("D", Name="bad\x00name"),
    )
    mapped, rejected = map_rows(DEAL, rows, dialect=dialect)
    why = {r.incoming.sf_id: (r.code, r.field) for r in rejected}
    assert why["B"] == ("MAPPING_ERROR", "close_date")
    assert why["C"] == ("MAPPING_ERROR", "amount")
    assert "D" not in why
    assert [m.incoming.sf_id for m in mapped] == ["A", "D"]
    name = mapped[1].values["name"]
    if dialect == "postgresql":
        assert name == "bad\ue0000name" and "\x00" not in name
    else:
        assert name == "bad\x00name"
    assert unescape_nul(name) == "bad\x00name"
    assert mapped[0].values["close_date"].isoformat() == "2026-12-31"


def test_resolve_turns_salesforce_ids_into_local_ids_with_placeholders(engine: Engine) -> None:  # noqa: F811
    """An unknown partner gets a placeholder row; two deals naming it share its local id."""
    mapped, _ = map_rows(
        DEAL, _incoming(opp("A"), opp("B"), opp("C", PartnerAccountId=None)), dialect="sqlite"
    )
    with engine.begin() as conn:
        resolved = resolve_lookups(conn, DEAL, mapped)
        partner_ids = repo.resolve_links(conn, "partner", ["001000000000001AAA"])
    assert resolved[0]["partner"] == resolved[1]["partner"] == partner_ids["001000000000001AAA"]
    assert resolved[2]["partner"] is None
    assert mapped[0].values["partner"] == "001000000000001AAA"  # the mapped values are untouched


def test_planned_rows_and_diffs_name_the_operation_and_drops_saves_that_changed_nothing() -> None:
    """New: created; changed: updated with the fields; unchanged: a row but no diff;
    deleted before: undeleted."""
    plain = {
        i: {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in m.values.items()}
        for i, m in zip(
            "BCD", map_rows(DEAL, _incoming(*map(opp, "BCD")), dialect="sqlite")[0], strict=True
        )
    }

    def stored(sf_id: str, deleted: bool = False, **values: Any) -> SnapshotRow:
        values = {**plain[sf_id], **values}
        return SnapshotRow(values=values, modstamp=None, hash=None, deleted=deleted, local_id=1)

    snaps = {"B": stored("B", amount=5.0), "C": stored("C"), "D": stored("D", deleted=True)}
    incoming = classify(latest_per_id([opp(i) for i in "ABCD"]), snaps).upserts
    mapped, _ = map_rows(DEAL, incoming, dialect="sqlite")
    records, news = plan_records(mapped, [m.values for m in mapped])
    diffs = plan_diffs(DEAL, mapped, news, source="poll")
    assert [r.sf_id for r in records] == ["A", "B", "C", "D"]
    assert [(d.sf_id, d.op) for d in diffs] == [
        ("A", "created"),
        ("B", "updated"),
        ("D", "undeleted"),
    ]
    assert diffs[1].changed == ("amount",)
    assert diffs[1].old is not None and diffs[1].old["amount"] == 5.0
    assert diffs[0].op == "created" and diffs[0].old is None
    assert all(d.source == "poll" for d in diffs)


def _cert(sf_id: str, key: str) -> dict[str, Any]:
    return {
        "Id": sf_id,
        "SystemModstamp": T0,
        "LastModifiedById": "005000000000001AAA",
        "IsDeleted": False,
        "Name": f"Cert {sf_id}",
        "Partner__c": None,
        "Completed_Date__c": "2026-10-01",
        "PRM_Key__c": key,
    }


def test_write_isolated_sets_aside_the_rows_the_store_refuses(engine: Engine) -> None:  # noqa: F811
    """Two certifications sharing an external key: the unique index refuses the second; the
    others are written; the reason is one line without SQL or another record's values."""
    rows = [_cert("A", "k1"), _cert("B", "k2"), _cert("C", "k1"), _cert("D", "k3")]
    mapped, _ = map_rows(CERT, _incoming(*rows), dialect=engine.dialect.name)
    with engine.begin() as conn:
        written = write_isolated(conn, CERT, mapped, source="poll")
        stored = {r["sf_id"] for r in repo.iter_entity(conn, "certification")}
    assert [r.incoming.sf_id for r in written.rejected] == ["C"]
    assert stored == {"A", "B", "D"}
    assert sorted(d.sf_id for d in written.diffs) == ["A", "B", "D"]
    message = written.rejected[0].message
    assert message.startswith("certification (Partner_Certification__c): the store refused")
    assert "\n" not in message and "INSERT" not in message and "Cert A" not in message


def test_log_changes_gives_each_diff_its_local_id_and_logs_it(engine: Engine) -> None:  # noqa: F811
    """Diffs leave persist with the local id of their row, once in the change log."""
    mapped, _ = map_rows(DEAL, _incoming(opp("A"), opp("B")), dialect="sqlite")
    with engine.begin() as conn:
        written = write_isolated(conn, DEAL, mapped, source="backfill")
        final = log_changes(conn, DEAL, written.diffs, written.ids, cycle_id="c1")
        logged = conn.execute(select(ChangeLog.__table__.c.local_id)).scalars().all()  # type: ignore[attr-defined]
    assert [d.local_id for d in final] == [written.ids["A"], written.ids["B"]]
    assert sorted(logged) == sorted(written.ids.values())


def test_a_page_with_poison_rows_applies_the_rest_and_dead_letters_them_once(
    engine: Engine,  # noqa: F811
) -> None:
    """NaN rows are dead-lettered with the field; the others are stored and logged (a NUL
    too: escaped on PostgreSQL); the page replayed (the lag window) adds neither changes nor
    letters."""
    page = [opp(f"R{i}") for i in range(10)]
    page[3] = opp("R3", Amount=math.inf)
    page[7] = opp("R7", Name="nul\x00inside")
    poisoned = {"R3"}
    for _ in range(2):
        with engine.begin() as conn:
            res = apply_page(conn, DEAL, page, cycle_id="c1")
    with engine.begin() as conn:
        letters = repo.list_dead_letters(conn, entity="deal")
        stored = {r["sf_id"]: r for r in repo.iter_entity(conn, "deal")}
        logged = conn.execute(select(ChangeLog.__table__.c.sf_id)).scalars().all()  # type: ignore[attr-defined]
    assert res.diffs == [] and res.skipped == 10 - len(poisoned)
    assert {d.sf_id for d in letters} == poisoned
    assert len(letters) == len(poisoned)
    assert set(stored) == {f"R{i}" for i in range(10)} - poisoned
    assert sorted(logged) == sorted(stored)
    assert unescape_nul(stored["R7"]["name"]) == "nul\x00inside"
    amount = next(d for d in letters if d.sf_id == "R3")
    assert amount.code == "MAPPING_ERROR"
    assert (amount.message or "").startswith("deal.amount (Opportunity.Amount)")
    assert amount.payload is not None and amount.payload["Amount"] == "inf"
    assert models.entity_table("deal") is not None
