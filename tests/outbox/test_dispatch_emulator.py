"""Write-back against the emulator over HTTPS: collections, coalescing, bulk, dead letters."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, dispatch
from connector.store import read_connection
from connector.store.bookkeeping import DeadLetter, OutboxItem

from .orgdata import approvals, context, create_registrations, org_registrations, queue
from prmfixtures import sf_client

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]
DEAD = DeadLetter.__table__  # type: ignore[attr-defined]


def _statuses(engine: Engine) -> dict[str, int]:
    with read_connection(engine) as conn:
        rows = conn.execute(select(ITEMS.c.status)).scalars().all()
    return {s: rows.count(s) for s in set(rows)}


def test_an_approval_queued_is_written_and_read_back_with_its_reason(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a registration submitted by the partner user and its approval queued, one
    dispatch writes Status and reason; simple-salesforce reads them back as the admin."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    [reg] = create_registrations(emulator, 1)
    queue(ctx.engine, approvals([reg], reason="Certified partner, no conflict"))

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.written, report.items_done, report.dead) == (1, 1, 0)
    row = org_registrations(sf_client(emulator), [reg])[reg]
    assert row["Status__c"] == "Approved"
    assert row["Decision_Reason__c"] == "Certified partner, no conflict"
    assert row["LastModifiedById"] == emulator.users["integration"]["id"]
    assert _statuses(ctx.engine) == {"done": 1}


def test_a_thousand_approvals_cost_five_collection_calls_and_a_second_dispatch_nothing(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 1,000 approvals queued (and a second, older write to 100 of the same records),
    dispatch changes each record exactly once in 5 collection calls; a following dispatch
    makes no call at all."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 1000)
    queue(ctx.engine, approvals(ids[:100], reason="first thought", cause="early"))
    queue(ctx.engine, approvals(ids))
    before = org_registrations(sf_client(emulator), ids)
    ctx.client.limits()  # the budget guard's first look, which any earlier cycle has paid
    stats0 = emulator.stats()

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    stats1 = emulator.stats()
    composite = {
        k: stats1["by_endpoint"].get(k, 0) - stats0["by_endpoint"].get(k, 0)
        for k in stats1["by_endpoint"]
    }
    assert stats1["api_calls"] - stats0["api_calls"] == 5, composite
    assert composite["composite/sobjects"] == 5
    assert report.calls == 5
    assert (report.written, report.items_done) == (1000, 1100)
    after = org_registrations(sf_client(emulator), ids)
    assert all(r["Status__c"] == "Approved" for r in after.values())
    assert all(r["Decision_Reason__c"] == "Certified partner" for r in after.values())
    # each record changed exactly once: SystemModstamp moved once, by the integration user
    assert all(after[i]["SystemModstamp"] != before[i]["SystemModstamp"] for i in ids)

    stats2 = emulator.stats()
    again = dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    assert (again.written, again.calls) == (0, 0)
    assert emulator.stats()["api_calls"] == stats2["api_calls"]


def test_writes_salesforce_already_holds_are_settled_without_a_call(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given approvals already written, when the same values are queued again by another
    cause, dispatch marks them done without sending anything."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    ids = create_registrations(emulator, 10)
    queue(ctx.engine, approvals(ids))
    dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    queue(ctx.engine, approvals(ids, cause="replayed-rule"))

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.unchanged, report.written, report.calls) == (10, 0, 0)
    assert _statuses(ctx.engine) == {"done": 20}


def test_writes_above_the_threshold_take_the_bulk_path(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 1,500 approvals queued (threshold 1,000), they go out as one Bulk API 2.0
    ingest job and all land."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    settings.outbox.bulk_threshold = 1000
    ids = create_registrations(emulator, 1500, user="admin")
    queue(ctx.engine, approvals(ids))

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.bulk_records, report.collection_records) == (1500, 0)
    assert report.written == 1500
    assert report.calls < 20
    after = org_registrations(sf_client(emulator), ids)
    assert sum(1 for r in after.values() if r["Status__c"] == "Approved") == 1500


def test_validation_errors_go_to_the_dead_letter_with_code_and_fields(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given one good write and one with a value the picklist refuses, the good one lands
    and the bad one is dead with Salesforce's code, message and field; the others go on."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    good, bad = create_registrations(emulator, 2)
    queue(ctx.engine, approvals([good]))
    queue(ctx.engine, [OutboxWrite(
        sobject="Deal_Registration__c", operation="update", sf_id=bad,
        fields={"Status__c": "Maybe later"}, cause="bad", entity="deal_registration",
    )])

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.written, report.dead) == (1, 1)
    with read_connection(ctx.engine) as conn:
        item = conn.execute(select(ITEMS).where(ITEMS.c.status == "dead")).mappings().one()
        letter = conn.execute(select(DEAD).where(DEAD.c.kind == "outbox")).mappings().one()
    assert item["sf_id"] == bad
    assert item["error_code"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert item["error_fields"] == ["Status__c"]
    assert "Maybe later" in item["last_error"]
    assert letter["code"] == item["error_code"]
    assert org_registrations(sf_client(emulator), [good])[good]["Status__c"] == "Approved"




def _cert(key: str, name: str, partner: str, cause: str) -> OutboxWrite:
    return OutboxWrite(
        sobject="Partner_Certification__c", operation="upsert", external_id_field="PRM_Key__c",
        external_id=key, fields={"Name": name, "Partner__c": partner}, cause=cause,
        entity="certification",
    )


def test_upserts_create_once_and_a_repeated_upsert_writes_only_what_changed(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given three certifications upserted by PRM_Key__c, the same upserts queued again by
    other causes cost no call; one changed name is one write; the org holds three records."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    admin = sf_client(emulator)
    partner = admin.query("SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")
    pid = partner["records"][0]["Id"]
    keys = ["cert-a", "cert-b", "cert-c"]
    queue(ctx.engine, [_cert(k, f"Cert {k}", pid, "first") for k in keys])
    first = dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    queue(ctx.engine, [_cert(k, f"Cert {k}", pid, "again") for k in keys])
    again = dispatch((ctx.engine, ctx.client, ctx.spec, settings))
    queue(ctx.engine, [_cert("cert-b", "Cert B, renamed", pid, "rename")])
    renamed = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (first.written, again.unchanged, again.calls, renamed.written) == (3, 3, 0, 1)
    rows = list(admin.query_all_iter(
        "SELECT Name, PRM_Key__c FROM Partner_Certification__c WHERE PRM_Key__c LIKE 'cert-%'"
    ))
    assert sorted((r["PRM_Key__c"], r["Name"]) for r in rows) == [
        ("cert-a", "Cert cert-a"), ("cert-b", "Cert B, renamed"), ("cert-c", "Cert cert-c")]


def test_an_older_write_waiting_for_a_retry_never_overwrites_a_newer_one(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given an approval scheduled for a later retry and a newer rejection of the same
    registration due now, dispatch sends the rejection once and settles both items."""
    emulator.reset(seed="demo")
    ctx, settings = context(emulator, store, tmp_path)
    [reg] = create_registrations(emulator, 1)
    queue(ctx.engine, approvals([reg]))
    with ctx.engine.begin() as conn:  # as if its first attempt had hit a row lock
        from datetime import timedelta

        from sqlalchemy import update

        from connector.store.types import utcnow

        conn.execute(update(ITEMS).values(attempts=1,
                                          next_attempt_at=utcnow() + timedelta(hours=1)))
    queue(ctx.engine, [OutboxWrite(
        sobject="Deal_Registration__c", operation="update", sf_id=reg,
        fields={"Status__c": "Rejected"}, cause="later-rule", entity="deal_registration",
    )])

    report = dispatch((ctx.engine, ctx.client, ctx.spec, settings))

    assert (report.written, report.items_done) == (1, 2)
    row = org_registrations(sf_client(emulator), [reg])[reg]
    assert (row["Status__c"], row["Decision_Reason__c"]) == ("Rejected", "Certified partner")
    assert _statuses(ctx.engine) == {"done": 2}
