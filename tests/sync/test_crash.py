"""Kill the connector (SIGKILL) at random points; restarts end with the same store, no dupes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, func, select

from connector.emulator.testing import EmulatorHandle
from connector.mapping import load_mapping
from connector.store import read_connection
from connector.store.bookkeeping import ChangeLog

from .conftest import sf_env, write_config
from .orgtools import admin_sf, chunks, compare_entity

pytestmark = pytest.mark.slow


def _sync(cfg: Path, env: dict[str, str], kill_after: float | None) -> int | None:
    """Run `sync --once` in a child process; SIGKILL it after ``kill_after`` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "sync", "--once", "--json", "-c", str(cfg)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after is None:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
        return proc.returncode
    deadline = time.monotonic() + kill_after
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


def _deal_log_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """(sf_id, op) -> how many change-log entries the deal entity has for it."""
    log = ChangeLog.__table__
    with read_connection(engine) as conn:
        rows = conn.execute(
            select(log.c.sf_id, log.c.op, func.count())
            .where(log.c.entity == "deal")
            .group_by(log.c.sf_id, log.c.op)
        ).all()
    return {(sf_id, op): n for sf_id, op, n in rows}


def _assert_each_change_logged_once(engine: Engine, ids: list[str], edits: Counter[str]) -> None:
    """Killed and replayed pages log each change once: one `created` per opportunity, and per
    edited one between 1 and its number of edits (edits between two syncs fold into one)."""
    counts = _deal_log_counts(engine)
    assert {op for _, op in counts} <= {"created", "updated"}
    assert [i for i in ids if counts.get((i, "created")) != 1] == []
    wrong = {
        i: (counts.get((i, "updated"), 0), edits[i])
        for i in ids
        if not min(edits[i], 1) <= counts.get((i, "updated"), 0) <= edits[i]
    }
    assert wrong == {}, "opportunity -> (updates logged, edits made)"


def _edit_round(admin: Salesforce, ids: list[str], rng: random.Random, tag: int) -> list[str]:
    """Change the Amount and Name of 1,000 random opportunities; return their ids."""
    sample = rng.sample(ids, 1000)
    for batch in chunks(sample, 200):
        records = [
            {
                "attributes": {"type": "Opportunity"},
                "id": i,
                "Amount": float(rng.randint(1, 10**6)),
                "Name": f"r{tag}-{i}",
            }
            for i in batch
        ]
        admin.restful("composite/sobjects", method="PATCH", json={"records": records})
    return sample


def test_sigkill_during_backfill_and_incremental_cycles_converges_to_the_org(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a 20,000-record org, when `sync --once` is killed at random points during the
    backfill and during incremental cycles and restarted, the store ends equal to the org."""
    engine, url = store
    rng = random.Random(20261122)
    emulator.reset(seed="demo", records=20_000)
    # 200-row pages and 20 ms per API call stretch a run over ~100 commits, so the kill
    # points land between, and inside, page transactions.
    cfg = write_config(
        tmp_path, {"bulk_threshold": 100000, "page_size": 200, "signpost_skew_seconds": 0}
    )
    env = sf_env(emulator, url)
    admin = admin_sf(emulator)
    spec = load_mapping(tmp_path / "mapping.yaml")
    kills = 0
    emulator.faults(rate=0, latency_ms=20)
    try:
        for _ in range(4):
            kills += _sync(cfg, env, rng.uniform(1.5, 5.0)) == -signal.SIGKILL
        _sync(cfg, env, None)
        ids = [r["Id"] for r in admin.query_all_iter("SELECT Id FROM Opportunity ORDER BY Id")]
        edits: Counter[str] = Counter()
        for tag in range(3):
            edits.update(_edit_round(admin, ids, rng, tag))
            kills += _sync(cfg, env, rng.uniform(1.3, 2.2)) == -signal.SIGKILL
        _sync(cfg, env, None)
    finally:
        emulator.faults(rate=0, latency_ms=0)

    assert kills >= 3, "the kill points should land inside running syncs"
    for name, entity in spec.entities.items():
        assert compare_entity(engine, admin, entity) == [], name
    _assert_each_change_logged_once(engine, ids, edits)
