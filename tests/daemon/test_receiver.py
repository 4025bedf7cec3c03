"""The receiver: what it stores, what it refuses (and with which status), and that a
redelivered notification is stored once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import Engine

from connector.emulator.outbound import build_envelope
from connector.signing import sign as signature_header

from .conftest import ORG_ID, Running, stored_count

SOAP_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
ACCOUNT = "001000000000001AAA"


def envelope(org_id: str = ORG_ID, notes: int = 2, first: int = 1) -> bytes:
    """An Outbound Message as the emulator (and Salesforce) sends it."""
    return build_envelope(
        organization_id=org_id,
        action_id="04k000000000001AAA",
        enterprise_url="https://example/services/Soap/c/62.0/00D000000000001",
        partner_url="https://example/services/Soap/u/62.0/00D000000000001",
        sobject="Account",
        notifications=[
            (f"04l00000000{i:04d}AAA", {"Id": f"0010000000{i:05d}AAA", "Name": f"Acme {i}"})
            for i in range(first, first + notes)
        ],
    )


def post_soap(
    url: str, body: bytes, *, path: str = "/salesforce/outbound", **headers: str
) -> requests.Response:
    return requests.post(url + path, data=body, headers={**SOAP_HEADERS, **headers}, timeout=30)


def is_fault(resp: requests.Response) -> bool:
    return b"<soapenv:Fault>" in resp.content and b"<Ack>true</Ack>" not in resp.content


def test_a_message_delivered_three_times_is_stored_once_and_acked_each_time(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """Given one message with 2 notifications, when Salesforce delivers it 3 times, then each
    delivery gets <Ack>true</Ack> and 2 rows exist; the worker is woken once."""
    rx = receiver()
    body = envelope(notes=2)
    for _ in range(3):
        resp = post_soap(rx.url, body)
        assert resp.status_code == 200, resp.text
        assert b"<Ack>true</Ack>" in resp.content
    assert stored_count(engine) == 2
    assert rx.wakeups == [1]
    metrics = requests.get(rx.url + "/metrics", timeout=30).text
    assert 'prm_push_notifications_received_total{result="stored",source="outbound"} 2.0' in metrics
    assert (
        'prm_push_notifications_received_total{result="duplicate",source="outbound"} 4.0' in metrics
    )
    assert "prm_push_pending 2.0" in metrics


def test_another_orgs_message_is_refused_with_403_and_nothing_stored(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """An OrganizationId that is not the logged-in org's gets a 403 fault."""
    rx = receiver()
    resp = post_soap(rx.url, envelope(org_id="00D000000000999AAA"))
    assert resp.status_code == 403 and is_fault(resp)
    assert b"OrganizationId" in resp.content
    assert stored_count(engine) == 0


def test_the_15_character_org_id_is_the_same_org(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """Salesforce may name the org by its 15-character id: that is accepted."""
    rx = receiver()
    assert post_soap(rx.url, envelope(org_id=ORG_ID[:15])).status_code == 200
    assert stored_count(engine) == 2


def test_before_login_every_message_gets_a_503_fault_so_salesforce_retries(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """While the org id is unknown nothing can be checked, so nothing is stored or acked."""
    rx = receiver(org_id=None)
    resp = post_soap(rx.url, envelope())
    assert resp.status_code == 503 and is_fault(resp)
    assert b"soapenv:Server" in resp.content
    assert stored_count(engine) == 0


@pytest.mark.parametrize(
    ("path", "auth", "status"),
    [
        ("/salesforce/outbound", None, 401),
        ("/salesforce/outbound/wrong-secret", None, 401),
        ("/salesforce/outbound", ("sf", "wrong-secret"), 401),
        ("/salesforce/outbound/s3cret-value", None, 200),
        ("/salesforce/outbound", ("salesforce", "s3cret-value"), 200),
    ],
)
def test_the_shared_secret_is_required_in_the_path_or_as_basic_auth(
    receiver: Callable[..., Running],
    engine: Engine,
    path: str,
    auth: tuple[str, str] | None,
    status: int,
) -> None:
    """With outbound_secret set, a request without it gets 401 (a fault) and stores nothing."""
    rx = receiver(outbound_secret="s3cret-value")
    resp = requests.post(
        rx.url + path, data=envelope(), headers=SOAP_HEADERS, auth=auth, timeout=30
    )
    assert resp.status_code == status, resp.text
    if status == 401:
        assert is_fault(resp) and "Basic" in resp.headers["WWW-Authenticate"]
        assert stored_count(engine) == 0
    else:
        assert stored_count(engine) == 2


def test_a_secret_in_the_path_without_a_configured_secret_is_404(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """A URL with a secret the daemon does not expect is a configuration mistake: 404."""
    rx = receiver()
    resp = post_soap(rx.url, envelope(), path="/salesforce/outbound/something")
    assert resp.status_code == 404 and is_fault(resp)
    assert stored_count(engine) == 0


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D000000000001AAA</OrganizationId>
<Notification><Id>04l000000000001AAA</Id><sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="sf:Account">
<sf:Id>001000000000001AAA</sf:Id><sf:Name>&lol9;</sf:Name></sObject></Notification>
</notifications></soapenv:Body></soapenv:Envelope>"""

XXE = BILLION_LAUGHS.split(b"<!DOCTYPE")[0] + (
    b'<!DOCTYPE x [<!ENTITY lol9 SYSTEM "file:///etc/passwd">]>' + BILLION_LAUGHS.split(b"]>", 1)[1]
)


@pytest.mark.parametrize(
    ("name", "body", "headers", "status"),
    [
        ("entity bomb", BILLION_LAUGHS, {}, 400),
        ("external entity", XXE, {}, 400),
        ("malformed XML", b"<soapenv:Envelope><unclosed>", {}, 400),
        ("not XML at all", b'{"json": true}', {}, 400),
        ("wrong SOAP action", envelope(), {"SOAPAction": '"urn:deleteEverything"'}, 400),
        (
            "wrong operation",
            envelope()
            .replace(b"<notifications ", b"<deleteAll ")
            .replace(b"</notifications>", b"</deleteAll>"),
            {},
            400,
        ),
        ("no notification", envelope(notes=0), {}, 400),
    ],
)
def test_bad_requests_get_a_fault_with_the_right_status_and_store_nothing(
    receiver: Callable[..., Running],
    engine: Engine,
    name: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
) -> None:
    """Each bad request is refused with a SOAP fault; nothing reaches the store."""
    rx = receiver()
    started = time.monotonic()
    resp = post_soap(rx.url, body, **headers)
    assert resp.status_code == status, (name, resp.text)
    assert is_fault(resp), name
    assert stored_count(engine) == 0
    assert rx.wakeups == []
    if name == "entity bomb":
        assert time.monotonic() - started < 30  # refused before expansion, not after


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_is_refused_with_413_before_it_is_read(
    receiver: Callable[..., Running], engine: Engine, chunked: bool
) -> None:
    """A body above max_body_bytes gets 413, with or without a Content-Length."""
    rx = receiver(max_body_bytes=4096)
    body = envelope(notes=100)
    assert len(body) > 4096
    data = iter([body[i : i + 1000] for i in range(0, len(body), 1000)]) if chunked else body
    resp = requests.post(
        rx.url + "/salesforce/outbound", data=data, headers=SOAP_HEADERS, timeout=30
    )
    assert resp.status_code == 413 and is_fault(resp)
    assert stored_count(engine) == 0


SECRET = "whsec-test-key"


def signed_post(
    url: str, payload: object, *, secret: str = SECRET, at: int | None = None
) -> requests.Response:
    body = json.dumps(payload).encode()
    stamp = int(time.time()) if at is None else at
    return requests.post(
        url + "/events",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-PRM-Signature": signature_header(secret, stamp, body),
        },
        timeout=30,
    )


EVENT = {"id": "evt-1", "sobject": "Deal_Registration__c", "ids": [ACCOUNT, "a01000000000002AAA"]}


def test_a_signed_event_is_stored_once_per_record_even_when_resent(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """A valid signature: 202 and one row per record id; resending stores nothing new."""
    rx = receiver(webhook_secret=SECRET)
    first = signed_post(rx.url, EVENT)
    assert first.status_code == 202, first.text
    assert first.json() == {"stored": 2, "duplicates": 0}
    again = signed_post(rx.url, EVENT)
    assert again.json() == {"stored": 0, "duplicates": 2}
    assert stored_count(engine) == 2


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong secret", 401),
        ("stale timestamp", 401),
        ("future timestamp", 401),
        ("no signature", 401),
        ("tampered body", 401),
        ("bad event", 400),
    ],
)
def test_events_with_a_bad_signature_or_body_are_refused(
    receiver: Callable[..., Running], engine: Engine, case: str, status: int
) -> None:
    """Bad or stale signatures get 401, a valid signature over a bad event 400; none stored."""
    rx = receiver(webhook_secret=SECRET, webhook_tolerance_seconds=300)
    now = int(time.time())
    body = json.dumps(EVENT).encode()
    headers = {"X-PRM-Signature": signature_header(SECRET, now, body)}
    if case == "wrong secret":
        headers = {"X-PRM-Signature": signature_header("other", now, body)}
    elif case == "stale timestamp":
        headers = {"X-PRM-Signature": signature_header(SECRET, now - 301, body)}
    elif case == "future timestamp":
        headers = {"X-PRM-Signature": signature_header(SECRET, now + 301, body)}
    elif case == "no signature":
        headers = {}
    elif case == "tampered body":
        body = body.replace(b"evt-1", b"evt-2")
    elif case == "bad event":
        body = json.dumps({"id": "evt-3", "sobject": "Account", "ids": ["x; DROP"]}).encode()
        headers = {"X-PRM-Signature": signature_header(SECRET, now, body)}
    resp = requests.post(rx.url + "/events", data=body, headers=headers, timeout=30)
    assert resp.status_code == status, resp.text
    assert "error" in resp.json()
    assert stored_count(engine) == 0


def test_events_are_off_without_a_webhook_secret(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """No webhook secret configured: /events answers 404, so unsigned events never count."""
    rx = receiver()
    assert signed_post(rx.url, EVENT).status_code == 404
    assert stored_count(engine) == 0


def test_health_readiness_and_metrics_answer(receiver: Callable[..., Running]) -> None:
    """healthz is 200; readyz reports its checks (503 when one fails); metrics is Prometheus."""
    rx = receiver()
    assert requests.get(rx.url + "/healthz", timeout=30).status_code == 200
    ready = requests.get(rx.url + "/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    rx.deps.readiness = lambda: {"store": True, "org": True, "active": False}
    standby = requests.get(rx.url + "/readyz", timeout=30)
    assert standby.status_code == 503
    assert standby.json()["checks"]["active"] is False
    metrics = requests.get(rx.url + "/metrics", timeout=30)
    assert metrics.headers["Content-Type"].startswith("text/plain")
    for name in (
        "prm_push_to_writeback_seconds_bucket",
        "prm_outbox_depth",
        "prm_push_pending",
        "prm_daemon_active",
    ):
        assert name in metrics.text


def test_a_notify_request_verifies_at_the_receiver(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """The outbox's notify action and the receiver share one signature: a notify POSTed to
    /events (real HTTP, the outbox's own poster) is accepted and stored."""
    from connector.outbox.notify import post_signed

    rx = receiver(webhook_secret=SECRET)
    fields = {"url": rx.url + "/events", "secret_env": "HOOK_SECRET", "body": EVENT}
    result = post_signed(fields, now=time.time(), timeout=30, env={"HOOK_SECRET": SECRET})
    assert (result.ok, result.code) == (True, "OK"), result.message
    assert stored_count(engine) == 2
    other = post_signed(
        {**fields, "body": {**EVENT, "id": "evt-9"}},
        now=time.time(), timeout=30, env={"HOOK_SECRET": "not-the-secret"},
    )
    assert (other.ok, other.code) == (False, "HTTP_401")
    assert stored_count(engine) == 2


def test_a_rotated_secret_is_accepted_until_it_is_dropped(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """While rotating, /events accepts the new secret and the previous ones; a secret no longer
    listed is refused with 401."""
    rx = receiver(webhook_secret="new-key", webhook_previous_secrets=["old-key"])
    assert signed_post(rx.url, EVENT, secret="new-key").status_code == 202
    second = {**EVENT, "id": "evt-2", "ids": ["a01000000000003AAA"]}
    assert signed_post(rx.url, second, secret="old-key").status_code == 202
    third = {**EVENT, "id": "evt-3", "ids": ["a01000000000004AAA"]}
    refused = signed_post(rx.url, third, secret="retired-key")
    assert refused.status_code == 401 and "retired" in refused.json()["error"]
    assert stored_count(engine) == 3
