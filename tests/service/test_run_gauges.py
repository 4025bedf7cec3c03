"""Each run's row records the outbox depth and the largest cursor lag as the run ended (the
overview charts them over time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from connector.outbox.queue import ITEMS
from connector.service.runs import gauges
from connector.store import repo

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_gauges_read_depth_and_the_largest_cursor_lag(engine: Engine) -> None:
    with engine.begin() as conn:
        assert gauges(conn, T0) == {"outbox_pending": 0, "outbox_dead": 0, "max_lag_s": None}
        conn.execute(insert(ITEMS), [
            {"id": f"i{i}", "entity": "partner", "sobject": "Account", "operation": "update",
             "status": "pending" if i < 3 else "dead", "created_at": T0, "updated_at": T0}
            for i in range(5)])
        repo.save_state(conn, "partner", cursor=T0 - timedelta(seconds=90))
        repo.save_state(conn, "deal", cursor=T0 - timedelta(seconds=30))
        assert gauges(conn, T0) == {"outbox_pending": 3, "outbox_dead": 2, "max_lag_s": 90.0}
