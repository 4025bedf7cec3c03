"""Kill the connector (SIGKILL) at random points; restarts end with the same store, no dupes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import Engine, Table, func, select

from connector.emulator.testing import EmulatorHandle
from connector.mapping import load_mapping
from connector.store import read_connection
from connector.store.bookkeeping import ChangeLog, Snapshot

from .conftest import sf_env, write_config
from .orgtools import admin_sf, chunks, compare_entity

pytestmark = pytest.mark.slow

CHANGE_LOG: Table = ChangeLog.__table__  # type: ignore[attr-defined]
SNAPSHOT: Table = Snapshot.__table__  # type: ignore[attr-defined]


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


def _each_change_logged_once(engine: Engine, edited: set[str]) -> None:
    """No record version is in the change log twice (a replayed page logs nothing again); each
    record the store holds was created once; each edited deal has its updates logged."""
    c = CHANGE_LOG.c
    with read_connection(engine) as conn:
        twice = conn.execute(
            select(c.entity, c.sf_id, c.modstamp)
            .group_by(c.entity, c.sf_id, c.modstamp)
            .having(func.count() > 1)
            .limit(5)
        ).all()
        created: dict[str, int] = dict(
            conn.execute(
                select(c.entity + ":" + c.sf_id, func.count())
                .where(c.op == "created")
                .group_by(c.entity, c.sf_id)
            ).all()
        )
        stored = {
            f"{s.entity}:{s.sf_id}"
            for s in conn.execute(select(SNAPSHOT.c.entity, SNAPSHOT.c.sf_id))
        }
        updated = set(
            conn.execute(
                select(c.sf_id).where(c.entity == "deal", c.op == "updated").distinct()
            ).scalars()
        )
    assert twice == []
    assert set(created) == stored and set(created.values()) == {1}
    assert edited <= updated


def _edit_round(admin: Salesforce, ids: list[str], rng: random.Random, tag: int) -> set[str]:
    picked = rng.sample(ids, 1000)
    for batch in chunks(picked, 200):
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
    return set(picked)


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
            kills += _sync(cfg, env, rng.uniform(1.0, 3.0)) == -signal.SIGKILL
        _sync(cfg, env, None)
        ids = [r["Id"] for r in admin.query_all_iter("SELECT Id FROM Opportunity ORDER BY Id")]
        edited: set[str] = set()
        for tag in range(3):
            edited |= _edit_round(admin, ids, rng, tag)
            kills += _sync(cfg, env, rng.uniform(0.9, 1.8)) == -signal.SIGKILL
        _sync(cfg, env, None)
    finally:
        emulator.faults(rate=0, latency_ms=0)

    assert kills >= 3, "the kill points should land inside running syncs"
    for name, entity in spec.entities.items():
        assert compare_entity(engine, admin, entity) == [], name
    _each_change_logged_once(engine, edited)
