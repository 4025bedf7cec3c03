"""A named run lock so two daemons or CLI runs never sync the same store at once.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated connection.
SQLite: an OS file lock (``flock``) on a file beside the database. Both vanish with the process
that holds them, so a crash never leaves a stale lock behind and no heartbeat is needed.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

__all__ = ["acquire_run_lock", "lock_file_path"]

_MEMORY_LOCKS: set[tuple[int, str]] = set()
_MEMORY_GUARD = threading.Lock()


@contextmanager
def acquire_run_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take the lock ``name`` without waiting; yields True if held, False if taken."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name) as ok:
            yield ok
        return
    path = lock_file_path(engine, name)
    if path is None:
        with _memory_lock(engine, name) as ok:
            yield ok
        return
    with _file_lock(path) as ok:
        yield ok


def lock_file_path(engine: Engine, name: str) -> Path | None:
    """The lock file for ``name`` beside a SQLite database file (None for in-memory ones)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    db_path = Path(os.path.abspath(database))
    return db_path.with_name(f"{db_path.name}.{slug}.lock")


@contextmanager
def _pg_lock(engine: Engine, name: str) -> Iterator[bool]:
    key_sql = "hashtextextended('prm-connector:run:' || current_schema() || ':' || :name, 0)"
    conn = engine.connect()
    try:
        ok = bool(
            conn.execute(
                text(f"SELECT pg_try_advisory_lock({key_sql})"), {"name": name}
            ).scalar_one()
        )
        conn.commit()  # the lock is session-level: do not sit idle in a transaction
        try:
            yield ok
        finally:
            if ok:
                try:
                    conn.execute(text(f"SELECT pg_advisory_unlock({key_sql})"), {"name": name})
                    conn.commit()
                except Exception:
                    conn.invalidate()  # closing the session releases the lock
                    raise
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
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
            os.write(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode())
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(engine: Engine, name: str) -> Iterator[bool]:
    key = (id(engine), name)
    with _MEMORY_GUARD:
        ok = key not in _MEMORY_LOCKS
        if ok:
            _MEMORY_LOCKS.add(key)
    try:
        yield ok
    finally:
        if ok:
            with _MEMORY_GUARD:
                _MEMORY_LOCKS.discard(key)
