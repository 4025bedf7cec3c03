"""The store's writer lease and fence (invariant 7), and the named session locks under it.

The lease is one row of ``store_lease``: holder, epoch, expiry (seconds on the store's clock).
A writer takes it when it is free, expired, or its holder's *session* is gone; taking it bumps
the epoch. While held it is renewed by a heartbeat. ``install_fence`` makes every write
transaction on the engine check, just before COMMIT and in the same transaction, that the
lease row still carries this holder's epoch (one primary-key read; on PostgreSQL ``FOR KEY
SHARE``, which a takeover's ``FOR UPDATE`` waits for and a renewal does not); otherwise the
transaction is rolled back and ``LeaseLost`` raised. So a writer that lost the lease - its
session cut, its process frozen past the expiry, the network partitioned - cannot commit one
row after the takeover, whatever it was doing.

The holder's session is a named lock that vanishes with the process or its connection:
PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on a dedicated connection.
SQLite: an OS file lock (``flock``) on a file beside the database. A crashed holder's session
is gone at once, so a standby need not wait for the expiry; a frozen one keeps its session but
not its lease.

A holder may describe itself (``holder``: a short text such as kind, pid and start time);
``lock_holder`` reads it back for the refused caller's message: on PostgreSQL it is the lock
session's ``application_name``, on SQLite the lock file's content.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError

from connector.errors import FatalError
from connector.store.engine import SQLITE_DEFERRED_OPTION

__all__ = [
    "FENCE_EXEMPT",
    "Lease",
    "LeaseInfo",
    "LeaseLost",
    "acquire_run_lock",
    "install_fence",
    "lock_file_path",
    "lock_holder",
    "read_lease",
]

# application_name holds at most 63 bytes (NAMEDATALEN - 1).
MAX_HOLDER = 63
# Execution option of the lease's own connections: their commits are not fenced.
FENCE_EXEMPT = "prm_fence_exempt"
# A takeover waits at most this long for a holder's commit in progress, then tries again later.
TAKEOVER_LOCK_TIMEOUT_MS = 2000

_MEMORY_LOCKS: dict[tuple[int, str], str] = {}
_MEMORY_GUARD = threading.Lock()


class LeaseLost(FatalError):
    """This process no longer holds the store's lease: what it was writing was rolled back."""


# --- sessions: a named lock that vanishes with its process or connection --------------------
class _Session:
    """A named exclusive lock held until ``release`` (or the process/connection ends)."""

    held = False

    def take(self) -> bool:
        raise NotImplementedError

    def alive(self) -> bool:
        """Whether a held session still holds (a cut connection loses it)."""
        return self.held

    def release(self) -> None:
        raise NotImplementedError


def _session(engine: Engine, name: str, holder: str) -> _Session:
    if engine.dialect.name == "postgresql":
        return _PgSession(engine, name, holder)
    path = lock_file_path(engine, name)
    if path is None:
        return _MemorySession(engine, name, holder)
    return _FileSession(path, holder)


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


class _PgSession(_Session):
    def __init__(self, engine: Engine, name: str, holder: str) -> None:
        self.engine, self.name, self.holder = engine, name, holder
        self.conn: Connection | None = None

    def take(self) -> bool:
        conn = self.engine.connect().execution_options(**{FENCE_EXEMPT: True})
        try:
            ok = bool(
                conn.execute(
                    text(f"SELECT pg_try_advisory_lock({_PG_KEY_SQL})"), {"name": self.name}
                ).scalar_one()
            )
            if ok:
                conn.execute(
                    text("SELECT set_config('application_name', :holder, false)"),
                    {"holder": self.holder},
                )
            conn.commit()  # the lock is session-level: do not sit idle in a transaction
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not ok:
            conn.close()
            return False
        self.conn, self.held = conn, True
        return True

    def alive(self) -> bool:
        if self.conn is None:
            return False
        try:
            self.conn.execute(text("SELECT 1"))
            self.conn.commit()
            return True
        except Exception:
            self._drop()
            return False

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.invalidate()  # closing the session releases the lock
                self.conn.close()
        self.conn, self.held = None, False

    def release(self) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            conn.execute(text(f"SELECT pg_advisory_unlock({_PG_KEY_SQL})"), {"name": self.name})
            conn.execute(text("SELECT set_config('application_name', '', false)"))
            conn.commit()
            conn.close()
            self.conn, self.held = None, False
        except Exception:
            self._drop()
            raise


class _FileSession(_Session):
    # A separate open file description per session: flock then excludes other sessions in
    # this process as well as other processes.
    def __init__(self, path: Path, holder: str) -> None:
        self.path, self.holder = path, holder
        self.fd: int | None = None

    def take(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.holder}\n".encode())
        self.fd, self.held = fd, True
        return True

    def release(self) -> None:
        fd, self.fd, self.held = self.fd, None, False
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # a free lock describes no holder
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


class _MemorySession(_Session):
    def __init__(self, engine: Engine, name: str, holder: str) -> None:
        self.key, self.holder = (id(engine), name), holder

    def take(self) -> bool:
        with _MEMORY_GUARD:
            if self.key in _MEMORY_LOCKS:
                return False
            _MEMORY_LOCKS[self.key] = self.holder
        self.held = True
        return True

    def release(self) -> None:
        if self.held:
            with _MEMORY_GUARD:
                _MEMORY_LOCKS.pop(self.key, None)
        self.held = False


@contextmanager
def acquire_run_lock(
    engine: Engine,
    name: str,
    *,
    holder: str | None = None,
    wait: bool = False,
    poll_seconds: float = 0.5,
) -> Iterator[bool]:
    """Try to take the session lock ``name``; yields True if held, False if taken (never
    with ``wait``).

    ``holder`` (at most 63 characters kept) is what ``lock_holder`` reports while we hold it.
    ``wait`` retries every ``poll_seconds`` until the lock is free.
    """
    session = _session(engine, name, (holder or f"pid {os.getpid()}")[:MAX_HOLDER])
    while not session.take():
        if not wait:
            yield False
            return
        time.sleep(poll_seconds)
    try:
        yield True
    finally:
        session.release()


def lock_holder(engine: Engine, name: str) -> str | None:
    """What the current holder of ``name`` said about itself; None if free or unknown."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(**{FENCE_EXEMPT: True}) as conn:
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


# --- the lease ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaseInfo:
    """The lease row as the store has it, with the store's clock at the time of reading."""

    holder: str
    epoch: int
    expires_at: float
    now: float

    @property
    def expired(self) -> bool:
        return self.expires_at <= self.now


def _now_sql(engine: Engine) -> str:
    """The store's clock in seconds since the Unix epoch."""
    if engine.dialect.name == "postgresql":
        return "extract(epoch from clock_timestamp())::float8"
    return "((julianday('now') - 2440587.5) * 86400.0)"


def _exempt(engine: Engine) -> Connection:
    return engine.connect().execution_options(**{FENCE_EXEMPT: True})


def read_lease(engine: Engine, name: str) -> LeaseInfo | None:
    """The lease ``name`` as stored (None if nobody ever took it); takes no lock."""
    with _exempt(engine).execution_options(**{SQLITE_DEFERRED_OPTION: True}) as conn:
        row = conn.execute(
            text(
                f"SELECT holder, epoch, expires_at, {_now_sql(engine)} FROM store_lease "
                "WHERE name = :name"
            ),
            {"name": name},
        ).first()
        conn.rollback()
    if row is None or int(row[1]) == 0:
        return None
    return LeaseInfo(str(row[0]), int(row[1]), float(row[2]), float(row[3]))


class Lease:
    """One writer's claim on the lease ``name``: contend (``acquire``), ``renew``,
    ``release``, and the fence every write transaction passes (``check``).

    ``duration`` is how long a renewal keeps the lease. Thread-safe: the heartbeat renews on
    its own thread while the writer's transactions check it.
    """

    def __init__(self, engine: Engine, name: str, holder: str, *, duration: float) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder[:MAX_HOLDER]
        self.duration = float(duration)
        self.epoch: int | None = None
        self.lost: str | None = None  # why the lease was lost, once it was
        self.renewed = 0.0  # time.monotonic() of the last acquisition or renewal
        self.took_from: LeaseInfo | None = None  # the previous holder, on acquisition
        self._session = _session(engine, name, self.holder)
        self._guard = threading.RLock()
        self._on_lost: list[Callable[[str], None]] = []

    # --- state -----------------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """Whether this process holds the lease as far as it knows."""
        return self.epoch is not None and self.lost is None

    def on_lost(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` (on the thread that noticed) when the lease is lost."""
        self._on_lost.append(callback)

    def lose(self, reason: str) -> None:
        """Mark the lease lost: every later write transaction is refused."""
        with self._guard:
            if self.lost is not None or self.epoch is None:
                return
            self.lost = reason
        for callback in self._on_lost:
            callback(reason)

    # --- contend, renew, release -------------------------------------------------------------
    def acquire(self) -> bool:
        """One attempt to take the lease: True once held (epoch bumped), False if another
        holder's lease is live. Store errors propagate (the caller backs off and retries)."""
        with self._guard:
            if self.held:
                return True
            session = self._session.held or self._session.take()
            try:
                taken = self._take(session_free=session)
            except BaseException:
                if session:
                    self._release_session()
                raise
            if not taken:
                if session:
                    self._release_session()
                return False
            self.renewed = time.monotonic()
            return True

    def _take(self, *, session_free: bool) -> bool:
        now = _now_sql(self.engine)
        pg = self.engine.dialect.name == "postgresql"
        with _exempt(self.engine) as conn, conn.begin():
            if pg:
                conn.execute(
                    text("SELECT set_config('lock_timeout', :ms, true)"),
                    {"ms": f"{TAKEOVER_LOCK_TIMEOUT_MS}ms"},
                )
            conn.execute(
                text(
                    "INSERT INTO store_lease (name, holder, epoch, expires_at, renewed_at) "
                    "VALUES (:name, '', 0, 0, 0) ON CONFLICT (name) DO NOTHING"
                ),
                {"name": self.name},
            )
            row = conn.execute(
                text(
                    f"SELECT holder, epoch, expires_at, {now} FROM store_lease WHERE name = :name"
                    + (" FOR UPDATE" if pg else "")
                ),
                {"name": self.name},
            ).one()
            current = LeaseInfo(str(row[0]), int(row[1]), float(row[2]), float(row[3]))
            # With the holder's session gone (we could take it) the lease is ours. Without it,
            # only a lease its holder let expire (frozen, cut off, wedged): a fresh or released
            # one (expires_at 0) goes to the contender that holds the session, which is
            # taking it now, not to whoever runs first.
            lapsed = current.epoch > 0 and current.expires_at > 0 and current.expired
            free = session_free or lapsed
            if not free:
                return False
            epoch = current.epoch + 1
            conn.execute(
                text(
                    f"UPDATE store_lease SET holder = :holder, epoch = :epoch, "
                    f"expires_at = {now} + :duration, renewed_at = {now} "
                    "WHERE name = :name AND epoch = :old"
                ),
                {
                    "holder": self.holder,
                    "epoch": epoch,
                    "duration": self.duration,
                    "name": self.name,
                    "old": current.epoch,
                },
            )
        self.epoch, self.lost = epoch, None
        self.took_from = current if current.epoch else None
        return True

    def renew(self) -> bool:
        """Extend the lease by ``duration``; False (and lost) once another holder took it.
        Store errors propagate: the caller decides when the lease can no longer be trusted."""
        with self._guard:
            epoch = self.epoch
            if epoch is None or self.lost is not None:
                return False
            if not self._session.held or not self._session.alive():
                # a holder that took over from a frozen one, or whose session was cut
                with contextlib.suppress(Exception):
                    self._session.take()
        now = _now_sql(self.engine)
        with _exempt(self.engine) as conn, conn.begin():
            n = conn.execute(
                text(
                    f"UPDATE store_lease SET expires_at = {now} + :duration, renewed_at = {now} "
                    "WHERE name = :name AND epoch = :epoch AND holder = :holder"
                ),
                {"duration": self.duration, "name": self.name, "epoch": epoch,
                 "holder": self.holder},
            ).rowcount
        if n != 1:
            self.lose(self._taken_message())
            return False
        self.renewed = time.monotonic()
        return True

    def release(self) -> None:
        """Give the lease up, so a standby takes it without waiting: to the one that takes our
        session next (expires_at 0), or, when we never got the session back from a frozen
        holder, to anyone (expired now)."""
        with self._guard:
            epoch, held = self.epoch, self.held
            self.epoch = None
            expiry = "0" if self._session.held else _now_sql(self.engine)
            try:
                if held:
                    with _exempt(self.engine) as conn, conn.begin():
                        conn.execute(
                            text(
                                f"UPDATE store_lease SET expires_at = {expiry} "
                                "WHERE name = :name AND epoch = :epoch AND holder = :holder"
                            ),
                            {"name": self.name, "epoch": epoch, "holder": self.holder},
                        )
            finally:
                self._release_session()

    def _release_session(self) -> None:
        with contextlib.suppress(Exception):  # a session we cannot reach is gone already
            self._session.release()

    # --- the fence ---------------------------------------------------------------------------
    def check(self, conn: Connection) -> None:
        """The fence: raise ``LeaseLost`` (after rolling back) unless the lease row still
        carries our epoch; runs inside the transaction about to commit."""
        epoch, lost = self.epoch, self.lost
        if epoch is not None and lost is None:
            # PostgreSQL: the epoch also goes into the transaction's setting prm.lease_epoch,
            # where a deferred trigger (an auditor, the fault tests) can read what it committed
            # under.
            pg = conn.dialect.name == "postgresql"
            # On the driver's own cursor: the fence runs at every commit, and SQLAlchemy's
            # statement machinery would cost more than the indexed read itself.
            if pg:
                sql = (
                    "SELECT set_config('prm.lease_epoch', %s, true) FROM store_lease "
                    "WHERE name = %s AND epoch = %s AND holder = %s FOR KEY SHARE"
                )
                params: tuple[Any, ...] = (str(epoch), self.name, epoch, self.holder)
            else:
                sql = "SELECT 1 FROM store_lease WHERE name = ? AND epoch = ? AND holder = ?"
                params = (self.name, epoch, self.holder)
            dbapi = conn.dialect.loaded_dbapi
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            except dbapi.Error as err:  # as SQLAlchemy would raise it (OperationalError, ...)
                raise DBAPIError.instance(sql, params, err, dbapi.Error) from err
            finally:
                cursor.close()
            if row is not None:
                return
            self.lose(self._taken_message())
            lost = self.lost
        conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        raise LeaseLost(
            f"{lost or 'this process holds no lease on the store'}; nothing of the "
            "interrupted transaction was written"
        )

    def _taken_message(self) -> str:
        try:
            info = read_lease(self.engine, self.name)
        except Exception:
            info = None
        who = f" by {info.holder!r} (epoch {info.epoch})" if info is not None else ""
        return f"the store's lease (epoch {self.epoch}) was taken over{who}"


def install_fence(engine: Engine, lease: Lease, *, idle_timeout: float) -> Callable[[], None]:
    """Fence every write transaction on ``engine`` with ``lease``; returns the remover.

    Read connections (``read_connection``) and the lease's own are not fenced. On
    PostgreSQL each connection also gets ``idle_in_transaction_session_timeout``: a holder
    frozen inside a transaction loses its session (and its row locks) after ``idle_timeout``
    seconds instead of blocking the next holder for as long as its TCP connection lives.
    """

    def on_commit(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(FENCE_EXEMPT) or options.get(SQLITE_DEFERRED_OPTION):
            return
        lease.check(conn)

    ms = max(int(idle_timeout * 1000), 1)

    def on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("prm_idle_timeout") == ms:
            return
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"SET idle_in_transaction_session_timeout = {ms}")
        finally:
            cur.close()
        dbapi_conn.commit()
        record.info["prm_idle_timeout"] = ms

    event.listen(engine, "commit", on_commit)
    pg = engine.dialect.name == "postgresql"
    if pg:
        event.listen(engine, "checkout", on_checkout)

    def remove() -> None:
        event.remove(engine, "commit", on_commit)
        if pg:
            event.remove(engine, "checkout", on_checkout)

    return remove
