"""The status read model: `status --json`, /metrics and /readyz read the same numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from connector.daemon.inbox import Incoming, store_notifications
from connector.daemon.metrics import DaemonMetrics
from connector.mapping import load_mapping
from connector.outbox import OutboxWrite, enqueue
from connector.service.status import read_status, status_reader, store_answers
from connector.store import make_engine, repo

MAPPING = Path(__file__).resolve().parents[2] / "connector" / "defaults" / "mapping.yaml"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _metric(text: str, name: str, labels: str = "") -> float | None:
    m = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_status_and_metrics_read_the_same_store(engine: Engine) -> None:
    """Given outbox items, dead letters, pending pushes and a polled cursor, the status
    document and the /metrics gauges report the same numbers."""
    spec = load_mapping(MAPPING)
    with engine.begin() as conn:
        enqueue(conn, [OutboxWrite(sobject="Account", operation="update", sf_id=f"001{i:015d}",
                                   fields={"Partner_Tier__c": "Gold"}, cause=f"t:{i}",
                                   entity="partner") for i in range(3)])
        for i in range(2):
            repo.add_dead_letter(conn, kind="inbound", entity="deal", sobject="Opportunity",
                                 sf_id=f"006{i:015d}", code="BAD_VALUE", message="bad amount")
        repo.save_state(conn, "partner", cursor=NOW - timedelta(seconds=90))
    store_notifications(engine, [Incoming(f"04l{i:015d}", "Account", f"001{i:015d}")
                                 for i in range(4)])

    data = read_status(engine, spec, database_url="sqlite:///x.db", clock=lambda: NOW)
    assert data["writer"] is None  # nobody holds the store
    assert data["outbox"]["pending"] == 3
    assert data["push_pending"] == 4
    assert [d["code"] for d in data["dead_letters"]] == ["BAD_VALUE", "BAD_VALUE"]
    by_entity = {o["entity"]: o for o in data["objects"]}
    assert by_entity["deal"]["dead_letters"] == 2
    assert by_entity["partner"]["cursor"] == (NOW - timedelta(seconds=90)).isoformat()
    assert set(by_entity) == set(spec.entities)

    text = DaemonMetrics(engine, clock=lambda: NOW).render().decode()
    assert _metric(text, "prm_outbox_depth", '{status="pending"}') == data["outbox"]["pending"]
    assert _metric(text, "prm_push_pending") == data["push_pending"]
    assert _metric(text, "prm_dead_letters", '{kind="inbound"}') == 2
    with status_reader(engine, clock=lambda: NOW) as status:
        lag = status.cursor_lag()
    assert lag == {"partner": 90.0}
    assert _metric(text, "prm_cursor_lag_seconds", '{entity="partner"}') == 90.0


def test_readiness_sees_whether_the_store_answers(engine: Engine, tmp_path: Path) -> None:
    """/readyz's store check: true on a reachable store, false (not an exception) when the
    store cannot be opened."""
    assert store_answers(engine) is True
    gone = make_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")
    assert store_answers(gone) is False


def test_status_names_the_process_that_writes_the_store(engine: Engine) -> None:
    """While a run holds the store's lock, the status document says who it is."""
    from connector.service.lock import STORE_LOCK
    from connector.store import acquire_run_lock

    spec = load_mapping(MAPPING)
    with acquire_run_lock(engine, STORE_LOCK, holder="prm daemon 4242 2026-12-01T12:00:00Z") as ok:
        assert ok
        held = read_status(engine, spec, database_url="sqlite:///x.db")["writer"]
    assert held == "prm daemon 4242 2026-12-01T12:00:00Z"
    assert read_status(engine, spec, database_url="sqlite:///x.db")["writer"] is None
