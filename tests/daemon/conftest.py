"""Daemon tests: the receiver on a real uvicorn server, stores on SQLite and PostgreSQL (the
emulator, store and config helpers come from ``tests/prmfixtures.py``)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from connector.daemon.http import HttpServer
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.receiver import ReceiverDeps, create_receiver_app
from connector.settings import DaemonSettings
from connector.store.bookkeeping import ReceivedNotification

__all__ = ["ORG_ID", "Running", "receiver", "stored_count"]

ORG_ID = "00D000000000001AAA"


def stored_count(engine: Engine) -> int:
    """Rows in received_notification."""
    t = ReceivedNotification.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t)).scalar_one())


@dataclass
class Running:
    """A receiver being served: its base URL, metrics, and how often it woke the worker."""

    url: str
    metrics: DaemonMetrics
    deps: ReceiverDeps
    wakeups: list[int] = field(default_factory=list)
    org: dict[str, str | None] = field(default_factory=dict)


@pytest.fixture
def receiver(engine: Engine) -> Iterator[Callable[..., Running]]:
    """Factory: serve a receiver over HTTP for ``engine`` with the given daemon settings."""
    servers: list[HttpServer] = []

    def start(org_id: str | None = ORG_ID, **settings: Any) -> Running:
        metrics = DaemonMetrics(engine)
        org: dict[str, str | None] = {"id": org_id}
        wakeups: list[int] = []
        deps = ReceiverDeps(
            engine=engine,
            settings=DaemonSettings(**settings),
            metrics=metrics,
            organization_id=lambda: org["id"],
            on_stored=lambda: wakeups.append(1),
        )
        server = HttpServer(create_receiver_app(deps))
        server.start()
        servers.append(server)
        return Running(server.url, metrics, deps, wakeups, org)

    try:
        yield start
    finally:
        # uvicorn takes ~0.2 s to shut down (a 0.1 s tick, then a 0.1 s grace sleep); the test's
        # requests are answered by now, so the server stops on a thread of its own while the
        # next test runs instead of every test waiting for it
        for s in servers:
            s.server.should_exit = True
            threading.Thread(target=s.stop, name="receiver-stop", daemon=True).start()
