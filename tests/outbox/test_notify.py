"""`notify` items: POSTed signed to a real local HTTP server, retried through the outbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine, select

from connector.outbox import Dispatcher, OutboxWrite, enqueue
from connector.salesforce import SalesforceClient
from connector.settings import OutboxSettings
from connector.signing import verify
from connector.store.bookkeeping import OutboxItem
from connector.store.types import utcnow

ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


@pytest.fixture
def hook() -> Iterator[dict[str, Any]]:
    """A webhook receiver that fails the first request with 500, then accepts."""
    state: dict[str, Any] = {"requests": [], "fail_first": True}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            state["requests"].append((self.headers.get("X-PRM-Signature"), body))
            status = 500 if state["fail_first"] else 200
            state["fail_first"] = False
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        thread.join(10)


def _no_salesforce() -> SalesforceClient:
    raise AssertionError("a webhook-only dispatch must not connect to Salesforce")


def test_a_notify_is_retried_after_a_500_then_delivered_signed_once(
    engine: Engine, hook: dict[str, Any]
) -> None:
    """Given a notify item, the first dispatch gets 500 and schedules a retry; a dispatch
    after the backoff delivers it with a valid signature; a third sends nothing."""
    with engine.begin() as conn:
        enqueue(conn, [OutboxWrite(
            sobject="webhook", operation="notify", cause="firing:1",
            fields={"url": hook["url"], "secret_env": "HOOK_SECRET",
                    "body": {"event": "registration.approved", "id": "a01"}},
        )])
    settings = OutboxSettings(retry_base_seconds=30)
    env = {"HOOK_SECRET": "s3cret"}
    now = utcnow()

    first = Dispatcher(engine, _no_salesforce, None, settings, env=env,
                       clock=lambda: now).run()
    second = Dispatcher(engine, _no_salesforce, None, settings, env=env,
                        clock=lambda: now + timedelta(seconds=31)).run()
    third = Dispatcher(engine, _no_salesforce, None, settings, env=env,
                       clock=lambda: now + timedelta(hours=1)).run()

    assert (first.retry_later, first.notified) == (1, 0)
    assert (second.notified, third.notified) == (1, 0)
    assert len(hook["requests"]) == 2
    signature, body = hook["requests"][-1]
    assert verify(signature, body, "s3cret", now=time.time(), tolerance=300)
    assert body == '{"event":"registration.approved","id":"a01"}'
    with engine.begin() as conn:
        row = conn.execute(select(ITEMS.c.status, ITEMS.c.attempts)).one()
    assert tuple(row) == ("done", 1)
