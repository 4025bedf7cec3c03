"""The receiver sheds slow clients: idle connections, slow headers and slow bodies are closed
after their timeout, and a flood of them never keeps a real sender out."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from connector.daemon.http import HttpServer
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.receiver import ReceiverDeps, create_receiver_app
from connector.daemon.shedding import ClientLimits
from connector.settings import DaemonSettings

from .conftest import ORG_ID, stored_count
from .test_receiver import envelope, is_fault, post_soap

HEADER_TIMEOUT, BODY_TIMEOUT = 1.0, 1.0


@pytest.fixture
def served(engine: Engine) -> Iterator[tuple[HttpServer, list[str]]]:
    """A receiver with 1 s read timeouts and at most 50 connections; the reasons it shed."""
    settings = DaemonSettings(header_timeout_seconds=HEADER_TIMEOUT,
                              body_timeout_seconds=BODY_TIMEOUT, max_connections=50)
    deps = ReceiverDeps(engine=engine, settings=settings, metrics=DaemonMetrics(engine),
                        organization_id=lambda: ORG_ID)
    shed: list[str] = []
    limits = ClientLimits.from_settings(settings)
    server = HttpServer(create_receiver_app(deps), limits=limits)
    server.server.config.http = _recording(limits, shed)
    server.start()
    try:
        yield server, shed
    finally:
        server.server.should_exit = True
        threading.Thread(target=server.stop, daemon=True).start()


def _recording(limits: ClientLimits, shed: list[str]) -> Any:
    from connector.daemon.shedding import protocol_class

    return protocol_class(limits, on_shed=shed.append)


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """True when the server closes ``sock`` (EOF or reset) within ``within`` seconds."""
    sock.settimeout(within)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def test_two_hundred_idle_connections_are_closed_and_a_valid_message_gets_through(
    served: tuple[HttpServer, list[str]], engine: Engine
) -> None:
    """Given 200 connections that send nothing (four times the connection cap), a valid
    Outbound Message sent meanwhile is stored and acknowledged (an idle one is evicted to make
    room), and every idle connection is closed by the server within the header timeout."""
    server, shed = served
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(200)]
    try:
        resp = post_soap(server.url, envelope(notes=3))
        assert resp.status_code == 200 and not is_fault(resp), resp.text
        assert stored_count(engine) == 3
        # generous bound: the header timeout plus scheduling slack on a loaded machine
        assert all(_closed_by_server(s, HEADER_TIMEOUT + 10) for s in idle)
    finally:
        for s in idle:
            s.close()
    assert "evicted" in shed and "head" in shed


def test_a_slow_header_and_a_slow_body_are_cut_off(
    served: tuple[HttpServer, list[str]], engine: Engine
) -> None:
    """A client that sends half a request head, and one that sends its head and 10 bytes of
    a 1,000-byte body, are both closed by the server; nothing is stored."""
    server, shed = served
    slow_head = socket.create_connection(("127.0.0.1", server.port))
    slow_head.sendall(b"POST /salesforce/outbound HTTP/1.1\r\nHost: x\r\n")
    slow_body = socket.create_connection(("127.0.0.1", server.port))
    slow_body.sendall(b"POST /salesforce/outbound HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: text/xml\r\nContent-Length: 1000\r\n\r\n0123456789")
    try:
        assert _closed_by_server(slow_head, HEADER_TIMEOUT + 10)
        assert _closed_by_server(slow_body, BODY_TIMEOUT + 10)
    finally:
        slow_head.close()
        slow_body.close()
    assert sorted(shed) == ["body", "head"]
    assert stored_count(engine) == 0


def test_a_keep_alive_connection_serves_several_messages(
    served: tuple[HttpServer, list[str]], engine: Engine
) -> None:
    """Shedding does not cut a well-behaved keep-alive client: two messages, one connection."""
    import requests

    server, shed = served
    with requests.Session() as session:
        for first in (1, 10):
            resp = session.post(server.url + "/salesforce/outbound",
                                data=envelope(notes=2, first=first),
                                headers={"Content-Type": "text/xml", "SOAPAction": '""'},
                                timeout=30)
            assert resp.status_code == 200
    assert stored_count(engine) == 4
    assert shed == []
