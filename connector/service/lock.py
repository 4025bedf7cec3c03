"""The store's single writer (invariant 7) as sync, backfill, reconcile and the daemon take it:
a lease in the store, renewed by a heartbeat, fencing every write transaction of the holder
(``connector.store.locks``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from connector.errors import FatalError
from connector.logs import get_logger
from connector.service.runtime import Runtime
from connector.store.journal import abort_running_runs
from connector.store.locks import Lease, LeaseLost, install_fence, lock_holder, read_lease

__all__ = [
    "STORE_LOCK",
    "Heartbeat",
    "LeaseLost",
    "RunLocked",
    "describe_holder",
    "fenced",
    "holder_text",
    "new_lease",
    "run_lock",
    "took_over",
]

log = get_logger("connector.service.lock")

# One name for every kind of run: one writer per store (invariant 7), whatever it does.
STORE_LOCK = "store"
# A holder frozen inside a PostgreSQL transaction loses its session after at least this long.
MIN_IDLE_TIMEOUT = 5.0


class RunLocked(FatalError):
    """Another run holds the store's lease (exit 1; try again later or pass --wait)."""


def holder_text(kind: str, since: datetime | None = None) -> str:
    """How a holder describes itself: ``prm KIND PID STARTED``."""
    stamp = (since or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"prm {kind} {os.getpid()} {stamp}"


def describe_holder(text: str | None) -> str:
    """The refusal message for a lease held by ``text`` (as ``holder_text`` writes it)."""
    parts = (text or "").split()
    if len(parts) == 4 and parts[0] == "prm":
        _, kind, pid, stamp = parts
        when = stamp.replace("T", " ").replace("Z", " UTC")
        return f"another run ({kind}) holds the store since {when}, pid {pid}"
    return "another run holds the store"


def new_lease(rt: Runtime, holder: str) -> Lease:
    """A lease on the store with the configured duration (not yet taken)."""
    duration = rt.settings.database.lease.duration_seconds
    return Lease(rt.engine, STORE_LOCK, holder, duration=duration)


@contextmanager
def fenced(rt: Runtime, lease: Lease) -> Iterator[None]:
    """Every write transaction on the runtime's engine checks ``lease`` while the block runs."""
    idle = max(rt.settings.database.lease.duration_seconds, MIN_IDLE_TIMEOUT)
    remove = install_fence(rt.engine, lease, idle_timeout=idle)
    try:
        yield
    finally:
        remove()


def took_over(rt: Runtime, lease: Lease) -> int:
    """A new holder's first write (fenced): close the runs a previous holder left ``running``
    (killed, or fenced off before it could record their end). Returns how many."""
    previous = lease.took_from.holder if lease.took_from is not None else "a previous run"
    reason = f"aborted: its process lost the store's lease ({previous or 'unknown'})"
    with rt.engine.begin() as conn:
        n = abort_running_runs(conn, reason)
    if n:
        log.warning("lease.runs_aborted", runs=n, previous_holder=previous, epoch=lease.epoch)
    return n


class Heartbeat:
    """Renews a lease every ``every`` seconds on a thread of its own.

    When ``healthy()`` is false (the holder's work is wedged) it stops renewing, so the lease
    lapses and a standby takes over. A renewal the store refuses (another holder took over),
    or no successful renewal for the lease's whole duration (the store unreachable), loses
    the lease: the holder's next transaction is refused and ``Lease.on_lost`` callbacks run.
    """

    def __init__(
        self, lease: Lease, every: float, *, healthy: Callable[[], bool] = lambda: True
    ) -> None:
        self.lease = lease
        self.every = every
        self.healthy = healthy
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lease-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    def _loop(self) -> None:
        lease = self.lease
        while not self._stop.wait(self.every) and lease.held:
            if not self.healthy():
                log.warning("lease.not_renewed", reason="the writer is wedged", epoch=lease.epoch)
            else:
                try:
                    lease.renew()
                except Exception as err:
                    log.warning("lease.renew_failed", error=str(err).splitlines()[0][:200])
            if lease.held and time.monotonic() - lease.renewed > lease.duration:
                lease.lose(f"the store's lease (epoch {lease.epoch}) lapsed without a renewal")


@contextmanager
def run_lock(rt: Runtime, kind: str, *, wait: bool = False) -> Iterator[Lease]:
    """Hold the store's lease while the block runs, its writes fenced by the lease's epoch;
    a lease another run holds raises ``RunLocked`` (``wait``: wait for it instead).

    A crashed holder's session vanishes with it, so its lease is taken at once; a frozen one's
    after ``database.lease.duration_seconds``.
    """
    lease = new_lease(rt, holder_text(kind, rt.clock()))
    while not lease.acquire():
        if not wait:
            info = read_lease(rt.engine, STORE_LOCK)
            text = info.holder if info is not None else lock_holder(rt.engine, STORE_LOCK)
            message = describe_holder(text)
            raise RunLocked(f"{message}; wait for it to finish or pass --wait")
        time.sleep(0.5)
    heartbeat = Heartbeat(lease, rt.settings.database.lease.renew_seconds)
    try:
        with fenced(rt, lease):
            heartbeat.start()
            took_over(rt, lease)
            yield lease
    finally:
        heartbeat.stop()
        lease.release()
