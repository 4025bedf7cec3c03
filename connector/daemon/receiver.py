"""The daemon's HTTP side: Outbound Messages, signed webhooks, health, readiness, metrics.

``POST /salesforce/outbound`` (or ``/salesforce/outbound/SECRET``): 200 ``<Ack>true</Ack>``
once every notification is stored (a redelivery is stored once). A notification that cannot
be stored (an Id that is not a Salesforce id, a value the store refuses) is refused alone:
logged and counted, while the others in its message are stored and the message acknowledged.
Anything else is a SOAP fault, and Salesforce retries it: 413 body too large; 401 wrong or
missing secret; 400 malformed XML, a DTD or entity, a wrong SOAPAction or operation, no
notification that can be stored; 403 another org's OrganizationId; 503 not logged in yet, or
the store failed.

``POST /events``: 202 ``{"stored", "duplicates"}``; 413; 401 missing, bad or stale signature;
400 not a valid event; 404 while no webhook secret is configured; 503 the store failed.

``GET /healthz`` 200 while the process serves. ``GET /readyz`` 200 when the store and the org
answer and this daemon is active (not a standby), else 503 naming the failing checks.
``GET /metrics`` the Prometheus text.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.daemon.events import EventRejected, parse_event
from connector.daemon.inbox import Incoming, store_notifications
from connector.daemon.metrics import CONTENT_TYPE, DaemonMetrics
from connector.daemon.soap import (
    SoapRejected,
    ack_body,
    check_soap_action,
    fault_body,
    parse_outbound,
    same_org,
)
from connector.logs import get_logger
from connector.settings import DaemonSettings
from connector.signing import SIGNATURE_HEADER, Keyring, SignatureError, verify

__all__ = ["ReceiverDeps", "create_receiver_app"]

log = get_logger("connector.daemon.receiver")
XML = "text/xml; charset=utf-8"
JSON = "application/json"


def _nothing() -> None:
    return None


def _always_ready() -> dict[str, bool]:
    return {"store": True, "org": True, "active": True}


@dataclass
class ReceiverDeps:
    """What the receiver needs from the daemon; passed in, never global."""

    engine: Engine
    settings: DaemonSettings
    metrics: DaemonMetrics
    # the logged-in org's id; None until the daemon has logged in (requests then get 503)
    organization_id: Callable[[], str | None]
    # called after new notifications are committed: wakes the push worker
    on_stored: Callable[[], None] = _nothing
    # named readiness checks, each True when fine
    readiness: Callable[[], Mapping[str, bool]] = _always_ready
    clock: Callable[[], float] = field(default=time.time)


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) past ``limit`` bytes without reading the rest into memory."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def db_error(err: BaseException) -> str:
    """A store failure for a log line: its kind and SQLSTATE, never the SQL or its values
    (a driver's message quotes both, and the values are what the sender sent)."""
    orig = getattr(err, "orig", None)
    kind = type(orig).__name__ if orig is not None else type(err).__name__
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    return f"{type(err).__name__} ({kind}{', ' + str(state) if state else ''})"


def _store_each_alone_on_failure(
    engine: Engine, items: list[Incoming]
) -> tuple[int, list[Incoming]]:
    """Store ``items`` in one transaction; if that fails, each alone, so one notification the
    store refuses is refused alone. Returns (new, refused); raises when none could be stored
    (the store itself is failing: the whole message gets a 503 and Salesforce retries)."""
    try:
        return store_notifications(engine, items), []
    except Exception as err:
        if len(items) == 1:
            raise
        log.warning("receiver.store_batch_failed", error=db_error(err), items=len(items))
    new, refused = 0, []
    last: Exception | None = None
    for item in items:
        try:
            new += store_notifications(engine, [item])
        except Exception as err:
            last = err
            refused.append(item)
            log.warning("receiver.notification_refused", notification=item.notification_id[:40],
                        reason="the store refused it", error=db_error(err))
    if last is not None and len(refused) == len(items):
        raise last
    return new, refused


def _basic_password(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def _secret_ok(expected: str, offered: str | None) -> bool:
    return offered is not None and hmac.compare_digest(expected.encode(), offered.encode())


def create_receiver_app(deps: ReceiverDeps) -> Starlette:
    """The receiver's ASGI app for one daemon."""
    settings = deps.settings
    metrics = deps.metrics

    def fault(status: int, message: str, code: str = "Client", **headers: str) -> Response:
        log.warning("receiver.outbound_rejected", status=status, reason=message)
        metrics.push_received.labels("outbound", "rejected").inc()
        return Response(fault_body(message, code), status, headers=headers, media_type=XML)

    async def outbound(request: Request) -> Response:
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _TooLarge:
            return fault(413, f"body larger than {settings.max_body_bytes} bytes")
        path_secret = request.path_params.get("secret")
        if settings.outbound_secret is None:
            if path_secret is not None:
                return fault(404, "no outbound secret is configured: use /salesforce/outbound")
        elif not (
            _secret_ok(settings.outbound_secret, path_secret)
            or _secret_ok(
                settings.outbound_secret, _basic_password(request.headers.get("authorization"))
            )
        ):
            return fault(
                401,
                "wrong or missing secret",
                **{"WWW-Authenticate": 'Basic realm="prm-connector"'},
            )
        try:
            check_soap_action(request.headers.get("soapaction"))
            message = parse_outbound(body)
        except SoapRejected as err:
            return fault(err.status, err.message, err.code)
        expected = deps.organization_id()
        if not expected:
            return fault(503, "the connector has not logged in to its org yet", "Server")
        if not same_org(message.organization_id, expected):
            return fault(403, f"OrganizationId {message.organization_id[:18]} is not this org's")
        for note_id, why in message.refused:
            log.warning("receiver.notification_refused", notification=note_id, reason=why)
        if message.refused:
            metrics.push_received.labels("outbound", "rejected").inc(len(message.refused))
        items = [
            Incoming(n.notification_id, n.sobject, n.sf_id, "outbound")
            for n in message.notifications
        ]
        try:
            new, failed = await run_in_threadpool(_store_each_alone_on_failure, deps.engine, items)
        except Exception as err:
            log.error("receiver.store_failed", error=db_error(err))
            return fault(503, "could not store the notifications; retry later", "Server")
        if failed:
            metrics.push_received.labels("outbound", "rejected").inc(len(failed))
        metrics.push_received.labels("outbound", "stored").inc(new)
        metrics.push_received.labels("outbound", "duplicate").inc(len(items) - len(failed) - new)
        log.info("receiver.outbound_stored", new=new, received=len(items),
                 refused=len(message.refused) + len(failed) or None)
        if new:
            deps.on_stored()
        return Response(ack_body(), 200, media_type=XML)

    def problem(status: int, message: str) -> Response:
        log.warning("receiver.event_rejected", status=status, reason=message)
        metrics.push_received.labels("event", "rejected").inc()
        return Response(orjson.dumps({"error": message}), status, media_type=JSON)

    async def events(request: Request) -> Response:
        secret = settings.webhook_secret
        if secret is None:
            return problem(404, "webhooks are off: set daemon.webhook_secret to turn them on")
        try:
            body = await _read_body(request, settings.max_body_bytes)
        except _TooLarge:
            return problem(413, f"body larger than {settings.max_body_bytes} bytes")
        try:
            verify(
                request.headers.get(SIGNATURE_HEADER),
                body,
                Keyring.of(secret, settings.webhook_previous_secrets),
                now=deps.clock(),
                tolerance=settings.webhook_tolerance_seconds,
            )
            items = parse_event(body)
        except SignatureError as err:
            return problem(401, str(err))
        except EventRejected as err:
            return problem(400, str(err))
        try:
            new = await run_in_threadpool(store_notifications, deps.engine, items)
        except Exception as err:
            log.error("receiver.store_failed", error=db_error(err))
            return problem(503, "could not store the event; retry later")
        metrics.push_received.labels("event", "stored").inc(new)
        metrics.push_received.labels("event", "duplicate").inc(len(items) - new)
        if new:
            deps.on_stored()
        return Response(
            orjson.dumps({"stored": new, "duplicates": len(items) - new}), 202, media_type=JSON
        )

    async def healthz(request: Request) -> Response:
        return Response(orjson.dumps({"status": "ok"}), 200, media_type=JSON)

    async def readyz(request: Request) -> Response:
        checks: dict[str, Any] = dict(await run_in_threadpool(deps.readiness))
        ready = all(bool(v) for v in checks.values())
        return Response(
            orjson.dumps({"ready": ready, "checks": checks}), 200 if ready else 503, media_type=JSON
        )

    async def metrics_view(request: Request) -> Response:
        body = await run_in_threadpool(metrics.render)
        return Response(body, 200, media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/salesforce/outbound", outbound, methods=["POST"]),
            Route("/salesforce/outbound/{secret}", outbound, methods=["POST"]),
            Route("/events", events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_view, methods=["GET"]),
        ]
    )
