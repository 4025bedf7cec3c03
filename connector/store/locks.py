"""A named run lock so two daemons or CLI runs never sync the same store at once.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated connection.
SQLite: an OS file lock (``flock``) on a file beside the database. Both vanish with the process
that holds them, so a crash never leaves a stale lock behind and no heartbeat is needed.

A holder may describe itself (``holder``: a short text such as kind, pid and start time);
``lock_holder`` reads it back for the refused caller's message: on PostgreSQL it is the lock
session's ``application_name``, on SQLite the lock file's content.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["acquire_run_lock", "lock_file_path", "lock_holder"]

# application_name holds at most 63 bytes (NAMEDATALEN - 1).
MAX_HOLDER = 63

_MEMORY_LOCKS: dict[tuple[int, str], str] = {}
_MEMORY_GUARD = threading.Lock()


@contextmanager
def acquire_run_lock(
    engine: Engine,
    name: str,
    *,
    holder: str | None = None,
    wait: bool = False,
    poll_seconds: float = 0.5,
) -> Iterator[bool]:
    """Try to take the lock ``name``; yields True if held, False if taken (never with ``wait``).

    ``holder`` (at most 63 characters kept) is what ``lock_holder`` reports while we hold it.
    ``wait`` retries every ``poll_seconds`` until the lock is free.
    """
    text_ = (holder or f"pid {os.getpid()}")[:MAX_HOLDER]
    while True:
        with _try_lock(engine, name, text_) as ok:
            if ok or not wait:
                yield ok
                return
        time.sleep(poll_seconds)


@contextmanager
def _try_lock(engine: Engine, name: str, holder: str) -> Iterator[bool]:
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name, holder) as ok:
            yield ok
        return
    path = lock_file_path(engine, name)
    if path is None:
        with _memory_lock(engine, name, holder) as ok:
            yield ok
        return
    with _file_lock(path, holder) as ok:
        yield ok


def lock_holder(engine: Engine, name: str) -> str | None:
    """What the current holder of ``name`` said about itself; None if free or unknown."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            value = conn.execute(text(_PG_HOLDER_SQL), {"name": name}).scalar()
            conn.rollback()
        return str(value) if value else None
    path = lock_file_path(engine, name)
    if path is None:
        with _MEMORY_GUARD:
            return _MEMORY_LOCKS.get((id(engine), name))
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            # A shared lock we can take means nobody holds it (a killed holder's text stays).
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            content = os.read(fd, 4096).decode("utf-8", "replace").strip()
            return content or None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def lock_file_path(engine: Engine, name: str) -> Path | None:
    """The lock file for ``name`` beside a SQLite database file (None for in-memory ones)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    db_path = Path(os.path.abspath(database))
    return db_path.with_name(f"{db_path.name}.{slug}.lock")


_PG_KEY_SQL = "hashtextextended('prm-connector:run:' || current_schema() || ':' || :name, 0)"
# The session holding our advisory lock (a bigint key is split into classid and objid).
_PG_HOLDER_SQL = f"""
SELECT a.application_name
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = {_PG_KEY_SQL}
LIMIT 1
"""


@contextmanager
def _pg_lock(engine: Engine, name: str, holder: str) -> Iterator[bool]:
    conn = engine.connect()
    try:
        ok = bool(
            conn.execute(
                text(f"SELECT pg_try_advisory_lock({_PG_KEY_SQL})"), {"name": name}
            ).scalar_one()
        )
        if ok:
            conn.execute(
                text("SELECT set_config('application_name', :holder, false)"), {"holder": holder}
            )
        conn.commit()  # the lock is session-level: do not sit idle in a transaction
        try:
            yield ok
        finally:
            if ok:
                try:
                    conn.execute(text(f"SELECT pg_advisory_unlock({_PG_KEY_SQL})"), {"name": name})
                    conn.execute(text("SELECT set_config('application_name', '', false)"))
                    conn.commit()
                except Exception:
                    conn.invalidate()  # closing the session releases the lock
                    raise
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path, holder: str) -> Iterator[bool]:
    # A separate open file description per call: flock then excludes other calls in this
    # process as well as other processes.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{holder}\n".encode())
            yield True
        finally:
            os.ftruncate(fd, 0)  # a free lock describes no holder
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(engine: Engine, name: str, holder: str) -> Iterator[bool]:
    key = (id(engine), name)
    with _MEMORY_GUARD:
        ok = key not in _MEMORY_LOCKS
        if ok:
            _MEMORY_LOCKS[key] = holder
    try:
        yield ok
    finally:
        if ok:
            with _MEMORY_GUARD:
                _MEMORY_LOCKS.pop(key, None)
