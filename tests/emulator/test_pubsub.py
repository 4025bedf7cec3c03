"""The emulator's Pub/Sub API contract: change events over gRPC with TLS, as Salesforce's
documentation describes them (replay, retention, keepalive, flow control, error trailers,
bitmaps, GAP and overflow events, the delivery allocation)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from connector.emulator.pubsub import pubsub_api_pb2 as pb
from connector.emulator.pubsub.avro import build_schema
from connector.emulator.pubsub.changes import bitmap, bitmap_fields
from connector.emulator.standard import build_schema as describe_all
from connector.emulator.testing import EmulatorHandle, running_emulator

from pubsubclient import (
    Subscription,
    latest_replay_id,
    metadata,
    pubsub_faults,
    stub_for,
    trailer,
)

V = "/services/data/v62.0"
CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="empty") as handle:
        yield handle


@pytest.fixture(autouse=True)
def _default_faults(emu: EmulatorHandle) -> Iterator[None]:
    yield
    pubsub_faults(emu, gap_transactions=0, overflow_transactions=0, delivery_limit=None,
                  keepalive_seconds=270, retention_seconds=72 * 3600)
    emu.call("POST", "/_emulator/clock", json={"offset_seconds": 0, "freeze": False})


def _create(emu: EmulatorHandle, sobject: str, body: dict[str, Any], **headers: str) -> str:
    resp = requests.post(
        f"{emu.instance_url}{V}/sobjects/{sobject}",
        json=body,
        headers={"Authorization": f"Bearer {emu.token('integration')}", **headers},
        verify=emu.ca_bundle,
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["id"])


def _patch(emu: EmulatorHandle, sobject: str, rid: str, body: dict[str, Any]) -> None:
    emu.call("PATCH", f"{V}/sobjects/{sobject}/{rid}", user="integration", json=body)


def _header(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event["ChangeEventHeader"])


def test_ready_line_announces_the_endpoint_and_topics_and_schemas_answer(
    emu: EmulatorHandle,
) -> None:
    host, _, port = emu.pubsub_endpoint.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    stub, md = stub_for(emu), metadata(emu)
    topic = stub.GetTopic(pb.TopicRequest(topic_name="/data/AccountChangeEvent"), metadata=md)
    assert topic.can_subscribe and topic.tenant_guid == emu.organization_id
    info = stub.GetSchema(pb.SchemaRequest(schema_id=topic.schema_id), metadata=md)
    assert info.schema_id == topic.schema_id
    assert '"name":"ChangeEventHeader"' in info.schema_json
    assert '"name":"AccountChangeEvent"' in info.schema_json
    custom = stub.GetTopic(
        pb.TopicRequest(topic_name="/data/Deal_Registration__ChangeEvent"), metadata=md
    )
    assert custom.schema_id and custom.schema_id != topic.schema_id
    with pytest.raises(grpc.RpcError) as err:
        stub.GetTopic(pb.TopicRequest(topic_name="/data/NopeChangeEvent"), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_bad_session_or_tenant_is_unauthenticated_with_the_auth_trailer(
    emu: EmulatorHandle,
) -> None:
    stub = stub_for(emu)
    good = dict(metadata(emu))
    for bad in ({**good, "accesstoken": "00D!nope"}, {**good, "tenantid": "00D000000000000"}):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetTopic(pb.TopicRequest(topic_name="/data/ChangeEvents"),
                          metadata=tuple(bad.items()))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert trailer(err.value) == "sfdc.platform.eventbus.grpc.service.auth.error"


def test_rest_create_update_delete_give_documented_change_events(emu: EmulatorHandle) -> None:
    start = latest_replay_id(emu)
    sub = Subscription(emu, "/data/AccountChangeEvent", replay_id=start)
    try:
        rid = _create(emu, "Account", {"Name": "Acme", "Industry": "Energy"},
                      **{"Sforce-Call-Options": "client=contract-test"})
        _patch(emu, "Account", rid, {"Name": "Acme 2", "Industry": None})
        emu.call("DELETE", f"{V}/sobjects/Account/{rid}", user="integration")
        created, updated, deleted = sub.events(3)
    finally:
        sub.close()
    user = emu.users["integration"]["id"]
    h = _header(created)
    assert h["changeType"] == "CREATE" and h["recordIds"] == [rid]
    assert h["entityName"] == "Account" and h["commitUser"] == user
    assert h["changeOrigin"] == "com/salesforce/api/rest/62.0;client=contract-test"
    assert h["changedFields"] == [] and h["nulledFields"] == []
    assert created["Name"] == "Acme" and created["Industry"] == "Energy"
    h = _header(updated)
    assert h["changeType"] == "UPDATE" and h["changeOrigin"] == "com/salesforce/api/rest/62.0"
    schema = build_schema(describe_all()["Account"]).schema
    assert set(bitmap_fields(h["changedFields"], schema)) == {
        "Name", "Industry", "LastModifiedDate"
    }
    assert bitmap_fields(h["nulledFields"], schema) == ["Industry"]
    assert updated["Name"] == "Acme 2" and updated["OwnerId"] is None  # unchanged: null
    assert _header(deleted)["changeType"] == "DELETE"
    assert len({_header(e)["transactionKey"] for e in (created, updated, deleted)}) == 3
    assert _header(updated)["commitNumber"] > h["commitNumber"] - 1 >= 0
    assert created["_replay_id"] != updated["_replay_id"]


def test_one_collections_request_is_one_transaction_and_identical_updates_merge(
    emu: EmulatorHandle,
) -> None:
    start = latest_replay_id(emu)
    sub = Subscription(emu, "/data/ChangeEvents", replay_id=start)
    try:
        out = emu.call("POST", f"{V}/composite/sobjects", user="integration", json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Account"}, "Name": f"Coll {i}"}
                        for i in range(3)],
        })
        ids = [r["id"] for r in out]
        emu.call("PATCH", f"{V}/composite/sobjects", user="integration", json={
            "records": [{"attributes": {"type": "Account"}, "id": i, "Industry": "Retail"}
                        for i in ids],
        })
        events = sub.events(4)
    finally:
        sub.close()
    creates, update = events[:3], events[3]
    keys = {_header(e)["transactionKey"] for e in creates}
    assert len(keys) == 1
    assert [_header(e)["sequenceNumber"] for e in creates] == [1, 2, 3]
    assert [_header(e)["recordIds"] for e in creates] == [[i] for i in ids]
    # Three records changed the same way in one transaction: one event naming all three.
    assert _header(update)["changeType"] == "UPDATE"
    assert sorted(_header(update)["recordIds"]) == sorted(ids)
    assert _header(update)["transactionKey"] not in keys


def test_one_composite_request_is_one_transaction(emu: EmulatorHandle) -> None:
    start = latest_replay_id(emu)
    sub = Subscription(emu, "/data/ChangeEvents", replay_id=start)
    try:
        emu.call("POST", f"{V}/composite", user="integration", json={
            "allOrNone": True,
            "compositeRequest": [
                {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct",
                 "body": {"Name": "Composite"}},
                {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "person",
                 "body": {"LastName": "Composite", "AccountId": "@{acct.id}"}},
            ],
        })
        events = sub.events(2)
    finally:
        sub.close()
    headers = [_header(e) for e in events]
    assert [h["entityName"] for h in headers] == ["Account", "Contact"]
    assert headers[0]["transactionKey"] == headers[1]["transactionKey"]
    assert [h["sequenceNumber"] for h in headers] == [1, 2]
    assert events[1]["AccountId"] == headers[0]["recordIds"][0]


def test_bulk_api_2_saves_in_transactions_of_200_with_their_origin(emu: EmulatorHandle) -> None:
    start = latest_replay_id(emu)
    sub = Subscription(emu, "/data/AccountChangeEvent", replay_id=start)
    try:
        job = emu.call("POST", f"{V}/jobs/ingest", user="integration",
                       json={"object": "Account", "operation": "insert", "lineEnding": "LF"})
        requests.put(
            f"{emu.instance_url}{V}/jobs/ingest/{job['id']}/batches",
            data="Name\n" + "".join(f"Bulk {i}\n" for i in range(201)),
            headers={"Authorization": f"Bearer {emu.token('integration')}",
                     "Content-Type": "text/csv"},
            verify=emu.ca_bundle, timeout=30,
        ).raise_for_status()
        emu.call("PATCH", f"{V}/jobs/ingest/{job['id']}", user="integration",
                 json={"state": "UploadComplete"})
        events = sub.events(100)
        sub.request(100)
        events += sub.events(100)
        sub.request(100)
        events += sub.events(1)
    finally:
        sub.close()
    assert {e["Name"] for e in events} == {f"Bulk {i}" for i in range(201)}
    assert {_header(e)["changeOrigin"] for e in events} == {"com/salesforce/api/bulk2/62.0"}
    keys = [_header(e)["transactionKey"] for e in events]
    assert len(set(keys[:200])) == 1 and keys[200] != keys[0]
    assert [_header(e)["sequenceNumber"] for e in events[:3]] == [1, 2, 3]


def test_replay_from_a_stored_id_earliest_and_latest(emu: EmulatorHandle) -> None:
    start = latest_replay_id(emu)
    first = _create(emu, "Contact", {"LastName": "One"})
    second = _create(emu, "Contact", {"LastName": "Two"})
    sub = Subscription(emu, "/data/ContactChangeEvent", replay_id=start)
    try:
        stored = sub.events(1)[0]["_replay_id"]  # the first event's id
    finally:
        sub.close()
    again = Subscription(emu, "/data/ContactChangeEvent", replay_id=stored)
    try:
        ids = [_header(e)["recordIds"] for e in again.events(1)]
    finally:
        again.close()
    assert ids == [[second]]
    earliest = Subscription(emu, "/data/ContactChangeEvent", preset="EARLIEST")
    try:  # every retained Contact event, the module's earlier ones first
        seen: list[str] = []
        while second not in seen:
            seen += [_header(e)["recordIds"][0] for e in earliest.events(1)]
    finally:
        earliest.close()
    assert seen.index(first) == seen.index(second) - 1
    pubsub_faults(emu, keepalive_seconds=0.2)
    latest = Subscription(emu, "/data/ContactChangeEvent", preset="LATEST")
    try:
        keepalive = latest.next()
        assert not keepalive.events  # nothing old is replayed
        third = _create(emu, "Contact", {"LastName": "Three"})
        assert [_header(e)["recordIds"] for e in latest.events(1)] == [[third]]
    finally:
        latest.close()


def test_keepalive_carries_the_latest_replay_id(emu: EmulatorHandle) -> None:
    _create(emu, "Lead", {"LastName": "Before", "Company": "C"})
    start = latest_replay_id(emu)
    pubsub_faults(emu, keepalive_seconds=0.2)
    sub = Subscription(emu, "/data/LeadChangeEvent", preset="LATEST", num_requested=1)
    try:
        keepalive = sub.next()
        assert not keepalive.events and keepalive.pending_num_requested == 1
        assert keepalive.latest_replay_id == start
        # Changes to other objects move the subscription's position past them.
        _create(emu, "Account", {"Name": "Elsewhere"})
        moved = sub.next()
        while moved.latest_replay_id == start:
            moved = sub.next()
        assert not moved.events
    finally:
        sub.close()
    lead = _create(emu, "Lead", {"LastName": "After", "Company": "C"})
    resumed = Subscription(emu, "/data/LeadChangeEvent", replay_id=moved.latest_replay_id)
    try:
        assert [_header(e)["recordIds"] for e in resumed.events(1)] == [[lead]]
    finally:
        resumed.close()


def test_flow_control_is_additive_and_capped_at_100(emu: EmulatorHandle) -> None:
    start = latest_replay_id(emu)
    emu.call("POST", f"{V}/composite/sobjects", user="integration", json={
        "records": [{"attributes": {"type": "Task"}, "Subject": f"T{i}"} for i in range(160)],
    })
    pubsub_faults(emu, keepalive_seconds=0.3)
    sub = Subscription(emu, "/data/TaskChangeEvent", replay_id=start, num_requested=2)
    try:
        got = sub.next()
        assert len(got.events) == 2 and got.pending_num_requested == 0
        idle = sub.next()  # nothing more until asked: a keepalive
        assert not idle.events and idle.pending_num_requested == 0
        sub.request(3)
        sub.request(4)
        n = 0
        while n < 7:
            r = sub.next()
            n += len(r.events)
        assert n == 7
        sub.request(150)  # more than 100 outstanding is capped at 100
        n, pending = 0, []
        while True:
            r = sub.next()
            if not r.events:
                break
            n += len(r.events)
            pending.append(r.pending_num_requested)
        assert n == 100 and pending[-1] == 0
        assert max(pending) < 100
    finally:
        sub.close()


def test_corrupted_and_expired_replay_ids_end_the_call_with_the_trailer(
    emu: EmulatorHandle,
) -> None:
    start = latest_replay_id(emu)
    _create(emu, "Account", {"Name": "Kept"})
    corrupted = bytes([start[0] ^ 1]) + start[1:]
    for replay_id in (corrupted, b"\x00\x01", start[:8] + b"\x00" * 8):
        sub = Subscription(emu, "/data/AccountChangeEvent", replay_id=replay_id)
        with pytest.raises(grpc.RpcError) as err:
            sub.next()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert trailer(err.value) == CORRUPTED
    # 73 hours later on the emulator's clock, the event is past retention.
    emu.call("POST", "/_emulator/clock", json={"offset_seconds": 73 * 3600})
    emu.token("integration", fresh=True)  # sessions expire too
    sub = Subscription(emu, "/data/AccountChangeEvent", replay_id=start)
    with pytest.raises(grpc.RpcError) as err:
        sub.next()
    assert trailer(err.value) == CORRUPTED
    pubsub_faults(emu, keepalive_seconds=0.2)
    earliest = Subscription(emu, "/data/AccountChangeEvent", preset="EARLIEST")
    try:
        assert not earliest.next().events  # nothing older than 72 hours is replayed
    finally:
        earliest.close()


def test_gap_and_overflow_events(emu: EmulatorHandle) -> None:
    rid = _create(emu, "Account", {"Name": "Gap"})
    start = latest_replay_id(emu)
    sub = Subscription(emu, "/data/AccountChangeEvent", replay_id=start)
    try:
        pubsub_faults(emu, gap_transactions=1)
        _patch(emu, "Account", rid, {"Industry": "Energy"})
        gap = sub.events(1)[0]
        pubsub_faults(emu, overflow_transactions=1)
        emu.call("POST", f"{V}/composite/sobjects", user="integration", json={
            "records": [{"attributes": {"type": "Account"}, "Name": f"O{i}"} for i in range(3)],
        })
        overflow = sub.events(1)[0]
        _patch(emu, "Account", rid, {"Industry": "Retail"})
        normal = sub.events(1)[0]
    finally:
        sub.close()
    assert _header(gap)["changeType"] == "GAP_UPDATE" and _header(gap)["recordIds"] == [rid]
    assert gap["Industry"] is None and _header(gap)["changedFields"] == []
    assert _header(overflow)["changeType"] == "GAP_OVERFLOW"
    assert _header(overflow)["entityName"] == "Account"
    assert _header(normal)["changeType"] == "UPDATE" and normal["Industry"] == "Retail"


def test_delivery_allocation_exceeded_ends_the_call_with_the_trailer(
    emu: EmulatorHandle,
) -> None:
    start = latest_replay_id(emu)
    for i in range(3):
        _create(emu, "Account", {"Name": f"Alloc {i}"})
    pubsub_faults(emu, delivery_limit=2)
    sub = Subscription(emu, "/data/AccountChangeEvent", replay_id=start)
    assert len(sub.events(2)) == 2
    with pytest.raises(grpc.RpcError) as err:
        sub.next()
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailer(err.value) == "sfdc.platform.eventbus.grpc.subscription.limit.exceeded"


def test_compound_name_parts_travel_inside_name(emu: EmulatorHandle) -> None:
    rid = _create(emu, "Contact", {"FirstName": "Ada", "LastName": "Byron"})
    start = latest_replay_id(emu)
    sub = Subscription(emu, "/data/ContactChangeEvent", replay_id=start)
    try:
        _patch(emu, "Contact", rid, {"LastName": "Lovelace"})
        event = sub.events(1)[0]
    finally:
        sub.close()
    assert event["Name"]["LastName"] == "Lovelace" and event["Name"]["FirstName"] is None
    schema = build_schema(describe_all()["Contact"]).schema
    changed = bitmap_fields(_header(event)["changedFields"], schema)
    assert set(changed) == {"Name.LastName", "LastModifiedDate"}


_SCHEMAS = {name: build_schema(obj) for name, obj in describe_all().items()}


@st.composite
def _fields(draw: st.DrawFn) -> tuple[str, list[str]]:
    entity = draw(st.sampled_from(sorted(_SCHEMAS)))
    schema = _SCHEMAS[entity]
    names = [p.name for s in schema.slots for p in s.parts] + [
        s.field.name for s in schema.slots if s.field is not None
    ]
    return entity, draw(st.lists(st.sampled_from(names), unique=True))


@given(_fields())
def test_bitmaps_round_trip(case: tuple[str, list[str]]) -> None:
    """Any set of fields -> bitmap strings -> the same fields, read the way Salesforce's
    documentation reads them (top-level bits, then ``{parent}-0x..`` for compound parts)."""
    entity, names = case
    schema = _SCHEMAS[entity]
    strings = bitmap(schema.position(n) for n in names)
    assert all(s.startswith("0x") or "-0x" in s for s in strings)
    if strings and not strings[0].startswith("0x"):
        assert all("-" in s for s in strings)
    compound = {p.name: s.name for s in schema.slots for p in s.parts}
    expected = {f"{compound[n]}.{n}" if n in compound else n for n in names}
    assert set(bitmap_fields(strings, schema.schema)) == expected
    assert len(bitmap_fields(strings, schema.schema)) == len(names)


def test_unrequested_events_wait_until_requested(emu: EmulatorHandle) -> None:
    start = latest_replay_id(emu)
    pubsub_faults(emu, keepalive_seconds=0.2)
    sub = Subscription(emu, "/data/OpportunityChangeEvent", replay_id=start, num_requested=0)
    try:
        _create(emu, "Opportunity",
                {"Name": "Wait", "StageName": "Prospecting", "CloseDate": "2026-12-31"})
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            assert not sub.next().events
        sub.request(1)
        assert [e["Name"] for e in sub.events(1)] == ["Wait"]
    finally:
        sub.close()
