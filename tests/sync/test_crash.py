"""Kill the connector (SIGKILL) at random points; restarts end with the same store, no dupes."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from procs import start_cli
from simple_salesforce import Salesforce
from sqlalchemy import Engine, Table, func, select

from connector.emulator.testing import EmulatorHandle
from connector.mapping import load_mapping
from connector.store import read_connection
from connector.store.bookkeeping import ChangeLog, Snapshot

from .orgtools import chunks, compare_entity
from prmfixtures import sf_client, sf_env, write_config

pytestmark = pytest.mark.slow

CHANGE_LOG: Table = ChangeLog.__table__  # type: ignore[attr-defined]
SNAPSHOT: Table = Snapshot.__table__  # type: ignore[attr-defined]
RECORDS = 2400  # extra opportunities: a dozen backfill pages of deals
EDITS = 600  # opportunities edited per incremental round: three pages


def _logged(engine: Engine) -> int:
    """Change-log entries committed so far (what a running sync has made durable)."""
    with read_connection(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(CHANGE_LOG)).scalar_one())


def _sync(
    cfg: Path,
    env: dict[str, str],
    engine: Engine,
    kill_at: int | None,
    rng: random.Random,
) -> int | None:
    """Run `sync --once` in a child process. With ``kill_at``, SIGKILL it once the change log
    holds ``kill_at`` entries, after a random few milliseconds more, so the kill lands while
    the next page is being fetched, applied or committed; returns the exit code."""
    proc = start_cli(
        ["sync", "--once", "--json", "-c", str(cfg)],
        env={**os.environ, **env},
        folder=cfg.parent,
    )
    if kill_at is None:
        code = proc.wait(300)
        assert code == 0, proc.stderr
        return code
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and _logged(engine) < kill_at:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.03))
    proc.kill()
    return proc.wait()


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
    picked = rng.sample(ids, EDITS)
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
    """Given a 2,400-record org read in 200-row pages, when `sync --once` is killed inside
    the backfill three times (at seeded random points of the change log, each kill landing
    while a page is in flight) and inside two incremental cycles, and restarted, the store ends
    equal to the org and no change is logged twice."""
    engine, url = store
    rng = random.Random(20261122)
    emulator.reset(seed="demo", records=RECORDS)
    # 200-row pages (the smallest allowed) make a dozen commits of deals alone; 10 ms per API call
    # keeps each page in flight long enough for the kill to land inside it.
    cfg = write_config(
        tmp_path, sync={"bulk_threshold": 100000, "page_size": 200, "signpost_skew_seconds": 0}
    )
    env = sf_env(emulator, url)
    admin = sf_client(emulator)
    spec = load_mapping(tmp_path / "mapping.yaml")
    kills = 0
    emulator.faults(rate=0, latency_ms=10)
    try:
        # one kill point in each third of the backfill, 400+ entries apart: each restart
        # resumes the interrupted backfill, then dies again a few pages further on
        third = (RECORDS - 400) // 3
        for n in range(3):
            kill_at = 200 + n * third + rng.randrange(third - 400)
            kills += _sync(cfg, env, engine, kill_at, rng) == -signal.SIGKILL
        _sync(cfg, env, engine, None, rng)
        ids = [r["Id"] for r in admin.query_all_iter("SELECT Id FROM Opportunity ORDER BY Id")]
        edited: set[str] = set()
        for tag in range(2):
            edited |= _edit_round(admin, ids, rng, tag)
            before = _logged(engine)
            # a kill after the first page of this cycle's updates, before its last
            kill_at = before + rng.randint(1, EDITS - 201)
            kills += _sync(cfg, env, engine, kill_at, rng) == -signal.SIGKILL
        _sync(cfg, env, engine, None, rng)
    finally:
        emulator.faults(rate=0, latency_ms=0)

    assert kills == 5, "every kill point should land inside a running sync"
    for name, entity in spec.entities.items():
        assert compare_entity(engine, admin, entity) == [], name
    _each_change_logged_once(engine, edited)
