"""The run lock: one holder at a time, across connections and processes; freed on exit.

The other processes are real ones, forked from the suite's forkserver (``tests/procs.py``)."""

from __future__ import annotations

import time
from pathlib import Path

from procs import Child, start
from sqlalchemy import Engine

from connector.store import acquire_run_lock, make_engine
from connector.store.locks import lock_holder


def hold(url: str, holder: str | None, release: str) -> None:
    """In a child process: take the lock "sync", print "held" (then keep it until the file
    ``release`` exists) or "busy"."""
    engine = make_engine(url)
    with acquire_run_lock(engine, "sync", holder=holder) as ok:
        print("held" if ok else "busy", flush=True)
        while ok and not Path(release).exists():
            time.sleep(0.01)


def _holder(engine: Engine, folder: Path, holder: str | None = None) -> Child:
    """A process of its own (from the forkserver) holding, or trying, the lock."""
    url = engine.url.render_as_string(hide_password=False)
    return start(hold, url, holder, str(folder / "release"), folder=folder)


def _first_line(child: Child) -> str:
    child.output_until(lambda _err: bool(child.stdout.strip()) or child.poll() is not None, 60)
    return child.stdout.strip()


def test_second_holder_is_refused_until_the_first_leaves(engine: Engine) -> None:
    """Within one process (two connections or file handles), the lock is exclusive."""
    with acquire_run_lock(engine, "sync") as first:
        with acquire_run_lock(engine, "sync") as second:
            assert (first, second) == (True, False)
        with acquire_run_lock(engine, "other") as other:
            assert other is True  # names are independent
    with acquire_run_lock(engine, "sync") as again:
        assert again is True


def test_lock_is_exclusive_across_processes(engine: Engine, tmp_path: Path) -> None:
    """A lock held by another process refuses us; when it exits (even abruptly) we get it."""
    holder = _holder(engine, tmp_path)
    try:
        assert _first_line(holder) == "held"
        with acquire_run_lock(engine, "sync") as ok:
            assert ok is False
    finally:
        holder.kill()  # no clean release: the OS / server must free the lock
    with acquire_run_lock(engine, "sync") as ok:
        assert ok is True


def test_we_hold_it_while_another_process_is_refused(engine: Engine, tmp_path: Path) -> None:
    """The other direction: while we hold it, a second process reports busy."""
    with acquire_run_lock(engine, "sync") as ok:
        assert ok
        other = _holder(engine, tmp_path)
        assert other.wait(60) == 0, other.stderr
    assert other.stdout.strip() == "busy"


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


def test_a_holder_in_another_process_is_described(engine: Engine, tmp_path: Path) -> None:
    """The description crosses processes (PostgreSQL session name, SQLite lock file)."""
    holder = _holder(engine, tmp_path, "sync 777 then")
    try:
        assert _first_line(holder) == "held"
        assert lock_holder(engine, "sync") == "sync 777 then"
    finally:
        holder.kill()
    assert lock_holder(engine, "sync") is None  # the text a killed holder left is not reported
