"""Outbound Messages: SOAP notifications POSTed to configured endpoints, retried until acked.

Like Salesforce's workflow outbound messages: every create or update of a configured sObject
queues a notification (Id ``04l...``) holding the record's fields at that moment; a worker
thread sends up to 100 queued notifications of one object and endpoint per SOAP message. Only
an HTTP 200 whose body holds ``<Ack>true</Ack>`` clears them; anything else is retried with
exponential backoff (15 s doubling, at most 2 h apart) until the notification is 24 h old, then
it is dropped. Delivery is at least once, and retries reorder notifications.

Time runs on a :class:`Clock` whose ``time_scale`` compresses it (``1/3600``: an emulated hour
per real second), so tests can watch the whole retry-and-drop sequence in seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import orjson
import requests
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.emulator.bulkcsv import IdFactory
from connector.emulator.errors import ApiError

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = [
    "Attempt",
    "Clock",
    "Notification",
    "OutboundDispatcher",
    "OutboundRule",
    "build_envelope",
    "is_ack",
    "outbound_routes",
    "parse_outbound_spec",
]

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_PER_MESSAGE = 100


class Clock:
    """Emulated seconds since start; ``time_scale`` real seconds pass per emulated second."""

    def __init__(self, time_scale: float = 1.0, *, real: Callable[[], float] = time.monotonic):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._real = real
        self._start = real()

    def now(self) -> float:
        """Emulated seconds since the clock started."""
        return (self._real() - self._start) / self.time_scale

    def real_seconds(self, emulated: float) -> float:
        """How long ``emulated`` seconds take in real time."""
        return max(0.0, emulated * self.time_scale)


@dataclass(frozen=True)
class OutboundRule:
    """One outbound message definition: which object, where to, which fields (None: all)."""

    sobject: str
    url: str
    action_id: str
    fields: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "url": self.url,
            "action_id": self.action_id,
            "fields": list(self.fields) if self.fields is not None else None,
        }


@dataclass
class Notification:
    """One queued notification; times are emulated seconds on the dispatcher's clock."""

    id: str
    rule: OutboundRule
    record: dict[str, Any]
    created_at: float
    next_attempt: float
    attempts: int = 0


@dataclass(frozen=True)
class Attempt:
    """One SOAP message sent: when (emulated seconds), where, which notifications, the outcome."""

    at: float
    url: str
    notification_ids: tuple[str, ...]
    acked: bool
    status: int | None
    error: str | None = None


def parse_outbound_spec(spec: str) -> tuple[str, str, tuple[str, ...] | None]:
    """``Account=https://host/path`` or ``Account[Id,Name]=URL`` -> (sobject, url, fields)."""
    name, sep, url = spec.partition("=")
    if not sep or not name.strip() or not url.strip():
        raise ValueError(f"expected SOBJECT=URL, got {spec!r}")
    name = name.strip()
    fields: tuple[str, ...] | None = None
    if name.endswith("]") and "[" in name:
        name, _, inner = name[:-1].partition("[")
        fields = tuple(f.strip() for f in inner.split(",") if f.strip())
    return name, url.strip(), fields


def _xml_value(value: Any, ftype: str | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and ftype == "int":
        return str(int(value))
    text = str(value)
    if ftype == "datetime" and text.endswith("+0000"):
        text = text[:-5] + "Z"
    return escape(text)


def build_envelope(
    *,
    organization_id: str,
    action_id: str,
    enterprise_url: str,
    partner_url: str,
    sobject: str,
    notifications: Iterable[tuple[str, dict[str, Any]]],
    field_types: dict[str, str] | None = None,
) -> bytes:
    """The SOAP envelope Salesforce POSTs: ``notifications`` with one ``Notification`` each."""
    types = field_types or {}
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{escape(organization_id)}</OrganizationId>",
        f"<ActionId>{escape(action_id)}</ActionId>",
        '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{escape(enterprise_url)}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(partner_url)}</PartnerUrl>",
    ]
    for note_id, record in notifications:
        parts.append(f"<Notification><Id>{escape(note_id)}</Id>")
        parts.append(f'<sObject xsi:type={quoteattr("sf:" + sobject)} xmlns:sf="{SOBJECT_NS}">')
        for name, value in record.items():
            if name == "attributes" or value is None or isinstance(value, dict | list):
                continue
            parts.append(f"<sf:{name}>{_xml_value(value, types.get(name))}</sf:{name}>")
        parts.append("</sObject></Notification>")
    parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
    return "".join(parts).encode("utf-8")


def is_ack(status: int, body: bytes) -> bool:
    """True for the only answer that clears notifications: 200 with ``<Ack>true</Ack>``."""
    if status != 200:
        return False
    try:
        from defusedxml import ElementTree

        root = ElementTree.fromstring(body)
    except Exception:
        return False
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Ack" and (el.text or "").strip().lower() == "true":
            return True
    return False


class OutboundDispatcher:
    """Queues notifications from org changes and delivers them from a worker thread."""

    def __init__(
        self,
        org: Org,
        clock: Clock | None = None,
        *,
        organization_id: str = "00D000000000001AAA",
        instance_url: str = "https://127.0.0.1",
        api_version: str = "61.0",
        first_retry: float = 15.0,
        max_interval: float = 7200.0,
        drop_after: float = 86400.0,
        timeout: float = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        self.org = org
        self.clock = clock or Clock()
        self.organization_id = organization_id
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.first_retry = first_retry
        self.max_interval = max_interval
        self.drop_after = drop_after
        self.timeout = timeout
        self.session = session or requests.Session()
        self.verify = verify
        self.rules: dict[str, OutboundRule] = {}
        self.queue: list[Notification] = []
        self.history: list[Attempt] = []
        self.delivered = 0
        self.dropped = 0
        self.dropped_ids: list[str] = []
        self._note_ids = IdFactory("04l")
        self._action_ids = IdFactory("04k")
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._in_flight = 0
        org.add_listener(self._on_change)

    # --- configuration --------------------------------------------------------------------

    def configure(
        self, sobject: str, url: str, fields: Iterable[str] | None = None
    ) -> OutboundRule:
        """Send a notification to ``url`` on every create/update of ``sobject``."""
        name = next((k for k in self.org.schema if k.lower() == sobject.lower()), None)
        if name is None:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "INVALID_FIELD", f"Endpoint URL must be http(s): {url}")
        chosen = tuple(fields) if fields is not None else None
        with self._cond:
            old = self.rules.get(name)
            rule = OutboundRule(
                sobject=name,
                url=url,
                action_id=old.action_id if old else self._action_ids.next(),
                fields=chosen,
            )
            self.rules[name] = rule
        self.start()
        return rule

    def remove(self, sobject: str) -> None:
        """Stop notifying for ``sobject`` (queued notifications are still delivered)."""
        with self._cond:
            for key in [k for k in self.rules if k.lower() == sobject.lower()]:
                del self.rules[key]

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the delivery thread (idempotent)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="outbound", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread; queued notifications stay queued."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def status(self) -> dict[str, Any]:
        """Counts for tests and the test API."""
        with self._cond:
            return {
                "pending": len(self.queue) + self._in_flight,
                "delivered": self.delivered,
                "dropped": self.dropped,
                "attempts": len(self.history),
                "rules": [r.as_dict() for r in self.rules.values()],
            }

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending (delivered or dropped); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    # --- queueing -------------------------------------------------------------------------

    def _on_change(self, event: str, sobject: str, record: dict[str, Any]) -> None:
        if event not in ("created", "updated"):
            return
        rule = self.rules.get(sobject)
        if rule is None:
            return
        if rule.fields is not None:
            wanted = {f.lower() for f in rule.fields} | {"id"}
            snapshot = {k: v for k, v in record.items() if k.lower() in wanted}
        else:
            snapshot = {k: v for k, v in record.items() if k != "attributes"}
        if "Id" in snapshot:
            snapshot = {"Id": snapshot.pop("Id"), **snapshot}
        now = self.clock.now()
        note = Notification(
            id=self._note_ids.next(), rule=rule, record=snapshot, created_at=now, next_attempt=now
        )
        with self._cond:
            self.queue.append(note)
            self._cond.notify_all()

    # --- delivery -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stop:
                    return
                now = self.clock.now()
                due = [n for n in self.queue if n.next_attempt <= now]
                if not due:
                    wait = None
                    if self.queue:
                        soonest = min(n.next_attempt for n in self.queue)
                        wait = max(self.clock.real_seconds(soonest - now), 0.001)
                    self._cond.wait(wait if wait is not None else 1.0)
                    continue
                first = due[0]
                batch = [
                    n
                    for n in due
                    if n.rule.url == first.rule.url and n.rule.sobject == first.rule.sobject
                ][:MAX_PER_MESSAGE]
                ids = {n.id for n in batch}
                self.queue = [n for n in self.queue if n.id not in ids]
                self._in_flight = len(batch)
            acked = self._send(first.rule, batch)
            with self._cond:
                self._in_flight = 0
                if acked:
                    self.delivered += len(batch)
                else:
                    self._reschedule(batch)
                self._cond.notify_all()

    def _reschedule(self, batch: list[Notification]) -> None:
        now = self.clock.now()
        for note in batch:
            note.attempts += 1
            delay = min(self.first_retry * 2 ** (note.attempts - 1), self.max_interval)
            if now + delay - note.created_at > self.drop_after:
                self.dropped += 1
                self.dropped_ids.append(note.id)
                continue
            note.next_attempt = now + delay
            self.queue.append(note)

    def _field_types(self, sobject: str) -> dict[str, str]:
        obj = self.org.schema.get(sobject)
        return {name: f.type for name, f in obj.fields.items()} if obj else {}

    def _send(self, rule: OutboundRule, batch: list[Notification]) -> bool:
        org15 = self.organization_id[:15]
        body = build_envelope(
            organization_id=self.organization_id,
            action_id=rule.action_id,
            enterprise_url=f"{self.instance_url}/services/Soap/c/{self.api_version}/{org15}",
            partner_url=f"{self.instance_url}/services/Soap/u/{self.api_version}/{org15}",
            sobject=rule.sobject,
            notifications=[(n.id, n.record) for n in batch],
            field_types=self._field_types(rule.sobject),
        )
        at = self.clock.now()
        status: int | None = None
        error: str | None = None
        acked = False
        try:
            resp = self.session.post(
                rule.url,
                data=body,
                headers={
                    "Content-Type": "text/xml; charset=utf-8",
                    "SOAPAction": '""',
                    "User-Agent": "Salesforce - OM",
                },
                timeout=self.timeout,
                verify=self.verify,  # explicit: REQUESTS_CA_BUNDLE must not override it
            )
            status = resp.status_code
            acked = is_ack(resp.status_code, resp.content)
        except requests.RequestException as exc:
            error = type(exc).__name__
        with self._cond:
            self.history.append(
                Attempt(at, rule.url, tuple(n.id for n in batch), acked, status, error)
            )
        return acked


def outbound_routes(
    dispatcher: OutboundDispatcher, user_of: Callable[[Request], str] | None = None
) -> list[BaseRoute]:
    """Test API: ``POST /_emulator/outbound`` {sobject, url, fields?}; ``GET`` status;
    ``DELETE /_emulator/outbound/{sobject}``."""

    def _auth(request: Request) -> None:
        if user_of is not None:
            user_of(request)

    def _err(exc: ApiError) -> Response:
        return Response(orjson.dumps(exc.body()), exc.status, media_type="application/json")

    async def configure(request: Request) -> Response:
        try:
            _auth(request)
            body = orjson.loads(await request.body() or b"{}")
            if not isinstance(body, dict) or not body.get("sobject") or not body.get("url"):
                raise ApiError(400, "INVALID_INPUT", "expected {sobject, url, fields?}")
            fields = body.get("fields")
            rule = dispatcher.configure(str(body["sobject"]), str(body["url"]), fields)
        except ApiError as exc:
            return _err(exc)
        except orjson.JSONDecodeError:
            return _err(ApiError(400, "JSON_PARSER_ERROR", "invalid JSON"))
        return Response(orjson.dumps(rule.as_dict()), 200, media_type="application/json")

    async def status(request: Request) -> Response:
        try:
            _auth(request)
        except ApiError as exc:
            return _err(exc)
        return Response(orjson.dumps(dispatcher.status()), 200, media_type="application/json")

    async def remove(request: Request) -> Response:
        try:
            _auth(request)
        except ApiError as exc:
            return _err(exc)
        dispatcher.remove(request.path_params["sobject"])
        return Response(status_code=204)

    return [
        Route("/_emulator/outbound", configure, methods=["POST"]),
        Route("/_emulator/outbound", status, methods=["GET"]),
        Route("/_emulator/outbound/{sobject}", remove, methods=["DELETE"]),
    ]
