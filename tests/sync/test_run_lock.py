"""One writer per store: concurrent `sync --once` runs, the lock message, --wait, run records."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from procs import Child, ready, start_cli
from sqlalchemy import Engine, Table, func, select

from connector.emulator.testing import EmulatorHandle
from connector.service import open_runtime, run_lock
from connector.store import read_connection
from connector.store.bookkeeping import ChangeLog, Snapshot, SyncRun

from .conftest import sf_env, write_config

pytestmark = pytest.mark.slow

LOCKED = re.compile(
    r"^error: another run \(sync\) holds the store since "
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, pid (\d+)"
)


RUNS: Table = SyncRun.__table__  # type: ignore[attr-defined]


def _start(cfg: Path, env: dict[str, str], *extra: str) -> Child:
    """`sync --once` in a process of its own (from the forkserver: started in milliseconds)."""
    return start_cli(
        ["sync", "--once", "--json", "-c", str(cfg), *extra],
        env={**os.environ, **env},
        folder=cfg.parent,
    )


def test_four_concurrent_syncs_one_runs_the_others_exit_1_and_each_change_is_logged_once(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given four `sync --once` started together on one store, exactly one runs; the others
    exit 1 at once naming the holder's pid; the change log holds each record's creation once."""
    engine, url = store
    emulator.reset(seed="demo", records=400)
    cfg = write_config(tmp_path, {"page_size": 200, "bulk_threshold": 100000})
    env = sf_env(emulator, url)
    # 60 ms a call: the winner's two dozen calls hold the lock well past the others' start
    emulator.faults(rate=0, latency_ms=60)
    try:
        procs = [_start(cfg, env) for _ in range(4)]
        results = [(p.wait(600), p.stdout, p.stderr) for p in procs]
    finally:
        emulator.faults(rate=0, latency_ms=0)

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1, 1, 1], [err for _, _, err in results]
    winner = next(p for p, (code, _, _) in zip(procs, results, strict=True) if code == 0)
    for code, out, err in results:
        if code == 1:
            match = LOCKED.match(err)
            assert match, err
            assert int(match.group(1)) == winner.pid
            assert err.count("\n") == 1 and "Traceback" not in err
            assert out == ""
    c = ChangeLog.__table__.c  # type: ignore[attr-defined]
    with read_connection(engine) as conn:
        dupes = conn.execute(
            select(c.entity, c.sf_id, c.op, c.modstamp)
            .group_by(c.entity, c.sf_id, c.op, c.modstamp)
            .having(func.count() > 1)
        ).all()
        created = conn.execute(
            select(func.count(), func.count(func.distinct(c.entity + ":" + c.sf_id))).where(
                c.op == "created"
            )
        ).one()
        snapshots = conn.execute(select(func.count()).select_from(Snapshot)).scalar_one()
        runs = conn.execute(select(RUNS.c.kind, RUNS.c.status)).all()
    assert dupes == []
    # one creation per record the store holds, and never two for one record
    assert tuple(created) == (snapshots, snapshots)
    assert snapshots > 400
    assert [tuple(r) for r in runs] == [("sync", "ok")]


def test_wait_waits_for_the_holder_then_runs(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """With --wait a second run waits while the lock is held and runs once it is free."""
    _, url = store
    emulator.reset(seed="demo")
    cfg = write_config(tmp_path)
    env = sf_env(emulator, url)
    rt = open_runtime(cfg, env=env)
    try:
        ready()
        with run_lock(rt, "backfill"):
            began = time.monotonic()
            refused = _start(cfg, env)
            assert refused.wait(300) == 1
            assert "another run (backfill) holds the store" in refused.stderr
            # the refused run took this long to start, try the lock and give up: a waiting run
            # still going after twice that (and a few of its 0.5 s retries) is waiting
            patience = 2 * (time.monotonic() - began) + 1.2
            waiting = _start(cfg, env, "--wait")
            deadline = time.monotonic() + patience
            while time.monotonic() < deadline:
                assert waiting.poll() is None, waiting.stderr
                time.sleep(0.1)
        assert waiting.wait(300) == 0, waiting.stderr
        assert '"status": "ok"' in waiting.stdout
    finally:
        rt.close()


def test_a_new_holder_closes_the_runs_a_killed_one_left_running(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a run left `running` (its process was SIGKILLed), the next holder of the store's
    lease marks it `aborted`, naming why; its own run is unaffected."""
    engine, url = store
    cfg = write_config(tmp_path)
    rt = open_runtime(cfg, env=sf_env(emulator, url))
    try:
        with engine.begin() as conn:
            conn.execute(RUNS.insert().values(id="killed", kind="sync", status="running"))
        with run_lock(rt, "backfill"), read_connection(engine) as conn:
            row = conn.execute(
                select(RUNS.c.status, RUNS.c.finished_at, RUNS.c.error).where(
                    RUNS.c.id == "killed"
                )
            ).one()
        assert row.status == "aborted" and row.finished_at is not None
        assert "lost the store's lease" in row.error
    finally:
        rt.close()
