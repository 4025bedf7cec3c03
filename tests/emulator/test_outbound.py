"""Outbound Messages: SOAP envelopes, ack-only clearing, backoff on a compressed clock, drops."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from defusedxml import ElementTree

from connector.emulator.outbound import (
    OUTBOUND_NS,
    SOBJECT_NS,
    Clock,
    OutboundDispatcher,
    build_envelope,
    is_ack,
    parse_outbound_spec,
)
from connector.emulator.schema import FieldDef, ObjectDef

ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    b"<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>"
)
NACK = ACK.replace(b"<Ack>true</Ack>", b"<Ack>false</Ack>")
XSI = "http://www.w3.org/2001/XMLSchema-instance"


class FakeOrg:
    """The slice of Org the dispatcher uses: schema and change listeners."""

    def __init__(self) -> None:
        self.schema = {
            "Account": ObjectDef(
                name="Account",
                key_prefix="001",
                fields={
                    "Id": FieldDef("Id", "id"),
                    "Name": FieldDef("Name", "string"),
                    "IsPartner": FieldDef("IsPartner", "boolean"),
                    "SystemModstamp": FieldDef("SystemModstamp", "datetime"),
                },
            )
        }
        self.listeners: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.n = 0

    def add_listener(self, cb: Callable[[str, str, dict[str, Any]], None]) -> None:
        self.listeners.append(cb)

    def change(self, event: str = "created", name: str = "Acme") -> str:
        self.n += 1
        rid = f"001000000000{self.n:03d}AAA"
        record = {
            "attributes": {"type": "Account"},
            "Id": rid,
            "Name": name,
            "IsPartner": True,
            "SystemModstamp": "2026-11-22T10:16:09.000+0000",
        }
        for cb in self.listeners:
            cb(event, "Account", record)
        return rid


class Receiver:
    """A local SOAP endpoint: NACKs the first ``nacks`` messages (or all), then ACKs."""

    def __init__(self, nacks: int | None = 0, status: int = 200) -> None:
        self.nacks = nacks
        self.status = status
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.bodies.append(body)
                    n = len(receiver.bodies)
                ok = receiver.nacks is not None and n > receiver.nacks
                payload = ACK if ok else NACK
                self.send_response(200 if ok else receiver.status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/salesforce/outbound"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dispatcher(org: FakeOrg, time_scale: float, **kw: Any) -> Iterator[OutboundDispatcher]:
    d = OutboundDispatcher(org, Clock(time_scale), **kw)  # type: ignore[arg-type]
    try:
        yield d
    finally:
        d.stop()


def notification_ids(body: bytes) -> list[str]:
    root = ElementTree.fromstring(body)
    return [
        el.findtext(f"{{{OUTBOUND_NS}}}Id") or ""
        for el in root.iter(f"{{{OUTBOUND_NS}}}Notification")
    ]


def test_envelope_has_salesforce_layout_and_namespaces() -> None:
    """The envelope parses and carries the outbound and enterprise sObject namespaces."""
    body = build_envelope(
        organization_id="00D000000000001AAA",
        action_id="04k000000000001AAA",
        enterprise_url="https://x/services/Soap/c/61.0/00D000000000001",
        partner_url="https://x/services/Soap/u/61.0/00D000000000001",
        sobject="Account",
        notifications=[("04l000000000001AAA", {"Id": "001X", "Name": "A & B", "Gone": None})],
        field_types={"Name": "string"},
    )
    root = ElementTree.fromstring(body)
    notes = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    assert notes is not None
    assert notes.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") == "00D000000000001AAA"
    assert notes.findtext(f"{{{OUTBOUND_NS}}}ActionId") == "04k000000000001AAA"
    session = notes.find(f"{{{OUTBOUND_NS}}}SessionId")
    assert session is not None and session.get(f"{{{XSI}}}nil") == "true"
    enterprise = notes.findtext(f"{{{OUTBOUND_NS}}}EnterpriseUrl", "")
    partner = notes.findtext(f"{{{OUTBOUND_NS}}}PartnerUrl", "")
    assert enterprise.endswith("/Soap/c/61.0/00D000000000001")
    assert partner.endswith("/Soap/u/61.0/00D000000000001")
    sobj = notes.find(f"{{{OUTBOUND_NS}}}Notification/{{{OUTBOUND_NS}}}sObject")
    assert sobj is not None
    assert sobj.get(f"{{{XSI}}}type") == "sf:Account"
    assert sobj.findtext(f"{{{SOBJECT_NS}}}Id") == "001X"
    assert sobj.findtext(f"{{{SOBJECT_NS}}}Name") == "A & B"
    assert sobj.find(f"{{{SOBJECT_NS}}}Gone") is None  # nulls are left out
    assert b'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"' in body


def test_only_a_200_with_ack_true_clears() -> None:
    """Ack false, a 500 or a non-XML 200 are all failures."""
    assert is_ack(200, ACK)
    assert not is_ack(200, NACK)
    assert not is_ack(500, ACK)
    assert not is_ack(200, b"OK")


def test_outbound_spec_parses_object_url_and_fields() -> None:
    """``Account[Id,Name]=URL`` names fields; plain ``Account=URL`` sends all of them."""
    assert parse_outbound_spec("Account=https://h/p") == ("Account", "https://h/p", None)
    assert parse_outbound_spec("Account[Id, Name]=http://h") == (
        "Account",
        "http://h",
        ("Id", "Name"),
    )
    with pytest.raises(ValueError):
        parse_outbound_spec("Account")


def test_nacked_notification_is_redelivered_with_growing_gaps_until_acked() -> None:
    """Three NACKs, then an ACK: four attempts, gaps 15 s, 30 s, 60 s (emulated), then clear."""
    org = FakeOrg()
    receiver = Receiver(nacks=3)
    with serving(receiver) as url, dispatcher(org, time_scale=1 / 600) as d:
        d.configure("Account", url)
        org.change()
        assert d.wait_idle(timeout=10)
        status = d.status()
    assert status["delivered"] == 1 and status["dropped"] == 0 and status["pending"] == 0
    assert [a.acked for a in d.history] == [False, False, False, True]
    ids = {notification_ids(b)[0] for b in receiver.bodies}
    assert len(ids) == 1 and next(iter(ids)).startswith("04l") and len(next(iter(ids))) == 18
    times = [a.at for a in d.history]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap, expected in zip(gaps, [15, 30, 60], strict=True):
        assert expected <= gap < expected * 1.5 + 30


@pytest.mark.slow
def test_never_acking_endpoint_is_dropped_after_the_configured_age() -> None:
    """A 500-answering endpoint: retried with doubling gaps capped at 2 h, dropped at 24 h."""
    org = FakeOrg()
    receiver = Receiver(nacks=None, status=500)
    # a simulated day in about 4 s; each real millisecond a send takes (more on a loaded
    # machine) is 20 simulated seconds, so the upper bounds below leave an hour for it
    with serving(receiver) as url, dispatcher(org, time_scale=1 / 20000) as d:
        d.configure("Account", url)
        org.change()
        assert d.wait_idle(timeout=20)
        status = d.status()
    assert status == {**status, "delivered": 0, "dropped": 1, "pending": 0}
    times = [a.at for a in d.history]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # each gap is the scheduled backoff (15 s doubling, capped at 2 h) plus the send time
    scheduled = [min(15.0 * 2**k, 7200.0) for k in range(len(gaps))]
    for gap, planned in zip(gaps, scheduled, strict=True):
        assert planned <= gap <= planned * 1.5 + 3600  # never early; late by the send's time
    assert scheduled[-1] == 7200.0  # reached the cap
    assert times[-1] <= 86400  # never tried past the drop age
    assert len(d.history) >= 12  # 10 doubling steps to the cap, then every 2 h


def test_unreachable_endpoint_counts_as_a_failure_and_is_dropped() -> None:
    """A connection refused is retried like a NACK and dropped at the (shortened) age."""
    org = FakeOrg()
    with dispatcher(org, time_scale=1 / 3600, drop_after=120.0, timeout=1.0) as d:
        d.configure("Account", "http://127.0.0.1:9/unreachable")
        org.change()
        assert d.wait_idle(timeout=10)
    assert d.status()["dropped"] == 1
    assert all(a.error and not a.acked for a in d.history)


def test_150_changes_arrive_in_messages_of_at_most_100_notifications() -> None:
    """150 queued notifications go out as 100 + 50, each exactly once when acked."""
    org = FakeOrg()
    receiver = Receiver(nacks=0)
    with serving(receiver) as url, dispatcher(org, time_scale=1.0) as d:
        d.configure("Account", url)
        d.stop()  # queue everything first, then deliver
        ids = {org.change(event="updated") for _ in range(150)}
        d.start()
        assert d.wait_idle(timeout=10)
    sizes = [len(notification_ids(b)) for b in receiver.bodies]
    assert sizes == [100, 50]
    assert d.status()["delivered"] == 150
    sent_records: set[str] = set()
    for body in receiver.bodies:
        root = ElementTree.fromstring(body)
        sent_records |= {el.text or "" for el in root.iter(f"{{{SOBJECT_NS}}}Id")}
    assert sent_records == ids


def test_configured_fields_limit_the_sobject_and_deletes_are_not_sent() -> None:
    """Only the chosen fields (plus Id) are sent; datetimes in xsd form; deletes send nothing."""
    org = FakeOrg()
    receiver = Receiver(nacks=0)
    with serving(receiver) as url, dispatcher(org, time_scale=1.0) as d:
        d.configure("account", url, fields=["SystemModstamp", "IsPartner"])
        org.change(event="deleted")
        org.change()
        assert d.wait_idle(timeout=10)
    assert len(receiver.bodies) == 1
    root = ElementTree.fromstring(receiver.bodies[0])
    sobj = next(root.iter(f"{{{OUTBOUND_NS}}}sObject"))
    names = [el.tag.split("}")[1] for el in sobj]
    assert names == ["Id", "IsPartner", "SystemModstamp"]
    assert sobj.findtext(f"{{{SOBJECT_NS}}}IsPartner") == "true"
    assert sobj.findtext(f"{{{SOBJECT_NS}}}SystemModstamp") == "2026-11-22T10:16:09.000Z"


def test_org_changes_over_rest_and_bulk_reach_the_endpoint_as_soap() -> None:
    """On the real emulator: REST creates, REST updates and Bulk 2.0 inserts each notify."""
    from bulkfixtures import emulator_session

    receiver = Receiver(nacks=1)  # the first message is NACKed and comes again
    with emulator_session() as emu, serving(receiver) as url:
        org = emu.handle.org
        d = OutboundDispatcher(org, Clock(1 / 3600), instance_url=emu.instance_url)
        try:
            d.configure("Account", url, fields=["Name", "Website"])
            sf = emu.salesforce()
            rid = sf.Account.create({"Name": "Pushed", "Website": "https://p.example"})["id"]
            sf.Account.update(rid, {"Name": "Pushed Again"})
            sf.bulk2.Account.insert(records=[{"Name": "Bulk Pushed"}], wait=0)
            assert d.wait_idle(timeout=20)
        finally:
            d.stop()
    assert d.status()["delivered"] == 3 and d.status()["dropped"] == 0
    seen: dict[str, list[str]] = {}
    for body in receiver.bodies[1:]:  # after the NACKed one
        root = ElementTree.fromstring(body)
        for sobj in root.iter(f"{{{OUTBOUND_NS}}}sObject"):
            seen.setdefault(sobj.findtext(f"{{{SOBJECT_NS}}}Name") or "", []).append(
                sobj.findtext(f"{{{SOBJECT_NS}}}Id") or ""
            )
    assert set(seen) == {"Pushed", "Pushed Again", "Bulk Pushed"}
    assert seen["Pushed"] == seen["Pushed Again"] == [rid]


def test_test_api_configures_an_endpoint_and_reports_status() -> None:
    """POST /_emulator/outbound {sobject, url}; a REST create is delivered; GET shows counts."""
    from bulkfixtures import emulator_session

    receiver = Receiver(nacks=0)
    with emulator_session(outbound_time_scale=1 / 3600) as emu, serving(receiver) as url:
        base = f"{emu.instance_url}/_emulator/outbound"
        with emu.admin_session.post(base, json={"sobject": "Account", "url": url},
                                    timeout=30) as rule:
            assert rule.status_code == 200 and rule.json()["action_id"].startswith("04k")
        with emu.admin_session.post(base, json={"sobject": "Nope__c", "url": url},
                                    timeout=30) as bad:
            assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_TYPE"
        emu.salesforce().Account.create({"Name": "Via Test API"})
        deadline = time.monotonic() + 15
        while emu.admin_session.get(base, timeout=30).json()["delivered"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    names = {
        el.text
        for b in receiver.bodies
        for el in ElementTree.fromstring(b).iter(f"{{{SOBJECT_NS}}}Name")
    }
    assert names == {"Via Test API"}


def test_cli_outbound_flag_delivers_from_an_emulator_subprocess() -> None:
    """``emulator serve --outbound Account=URL`` in a subprocess notifies on a REST create."""
    from connector.emulator.testing import running_emulator

    receiver = Receiver(nacks=0)
    with (
        serving(receiver) as url,
        running_emulator(
            seed="empty", in_process=False, outbound=[f"Account[Name]={url}"]
        ) as handle,
    ):
        handle.call("POST", "/services/data/v62.0/sobjects/Account/", json={"Name": "From CLI"})
        deadline = time.monotonic() + 15
        while not receiver.bodies:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    sobj = next(ElementTree.fromstring(receiver.bodies[0]).iter(f"{{{OUTBOUND_NS}}}sObject"))
    assert [el.tag.split("}")[1] for el in sobj] == ["Id", "Name"]
    assert sobj.findtext(f"{{{SOBJECT_NS}}}Name") == "From CLI"
