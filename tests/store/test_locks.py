"""The run lock: one holder at a time, across connections and processes; freed on exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine

from connector.store import acquire_run_lock, make_engine
from connector.store.locks import lock_holder

_HOLDER = """
import sys
from connector.store import acquire_run_lock, make_engine
engine = make_engine(sys.argv[1])
with acquire_run_lock(engine, "sync") as ok:
    print("held" if ok else "busy", flush=True)
    sys.stdin.readline()
"""


def test_second_holder_is_refused_until_the_first_leaves(engine: Engine) -> None:
    """Within one process (two connections or file handles), the lock is exclusive."""
    with acquire_run_lock(engine, "sync") as first:
        with acquire_run_lock(engine, "sync") as second:
            assert (first, second) == (True, False)
        with acquire_run_lock(engine, "other") as other:
            assert other is True  # names are independent
    with acquire_run_lock(engine, "sync") as again:
        assert again is True


def test_lock_is_exclusive_across_processes(engine: Engine) -> None:
    """A lock held by another process refuses us; when it exits (even abruptly) we get it."""
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with acquire_run_lock(engine, "sync") as ok:
            assert ok is False
    finally:
        holder.kill()  # no clean release: the OS / server must free the lock
        holder.wait(timeout=30)
    with acquire_run_lock(engine, "sync") as ok:
        assert ok is True


def test_we_hold_it_while_another_process_is_refused(engine: Engine) -> None:
    """The other direction: while we hold it, a second process reports busy."""
    url = engine.url.render_as_string(hide_password=False)
    with acquire_run_lock(engine, "sync") as ok:
        assert ok
        out = subprocess.run(
            [sys.executable, "-c", _HOLDER, url],
            input="\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert out.stdout.strip() == "busy"


def test_in_memory_sqlite_locks_within_the_process(tmp_path: Path) -> None:
    """An in-memory database has no file: the lock is kept per engine in this process."""
    eng = make_engine("sqlite://")
    with acquire_run_lock(eng, "sync") as first, acquire_run_lock(eng, "sync") as second:
        assert (first, second) == (True, False)
    with acquire_run_lock(eng, "sync") as again:
        assert again


def test_the_holder_describes_itself_to_a_refused_caller(engine: Engine) -> None:
    """While held, ``lock_holder`` returns the holder's text; once free, nothing."""
    assert lock_holder(engine, "sync") is None
    with acquire_run_lock(engine, "sync", holder="sync 4242 2026-11-30T06:00:00Z") as ok:
        assert ok
        with acquire_run_lock(engine, "sync", holder="other") as second:
            assert second is False
            assert lock_holder(engine, "sync") == "sync 4242 2026-11-30T06:00:00Z"
        assert lock_holder(engine, "elsewhere") is None
    assert lock_holder(engine, "sync") is None


def test_a_holder_in_another_process_is_described(engine: Engine) -> None:
    """The description crosses processes (PostgreSQL session name, SQLite lock file)."""
    url = engine.url.render_as_string(hide_password=False)
    script = _HOLDER.replace('"sync")', '"sync", holder="sync 777 then")')
    holder = subprocess.Popen(
        [sys.executable, "-c", script, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert lock_holder(engine, "sync") == "sync 777 then"
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert lock_holder(engine, "sync") is None  # the text a killed holder left is not reported
