"""The daemon's one store writer: every job that writes the store runs on this thread.

The change log's sequence must be in commit order (one writer per store), so polling, push
processing, triggers, the outbox and reconcile never run at the same time. Scheduler jobs and
the receiver only *request* work by kind; a kind requested while queued or running is
coalesced into one more run, and queued kinds run by priority (push first: it is what a
person is waiting for).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from connector.logs import get_logger

__all__ = ["Interrupted", "StoreWriter"]

log = get_logger("connector.daemon.writer")


class Interrupted(Exception):
    """Raised between two committed batches when the daemon is shutting down."""


class StoreWriter:
    """Runs requested work kinds one at a time on its own thread until stopped."""

    def __init__(
        self,
        handlers: Mapping[str, Callable[[], object]],
        priority: Sequence[str],
        *,
        on_done: Callable[[str, str, float, BaseException | None], None] | None = None,
    ) -> None:
        self.handlers = dict(handlers)
        self.priority = list(priority)
        self._rank = {k: i for i, k in enumerate(self.priority)}
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.running: str | None = None
        self.on_done = on_done
        # time.monotonic() of the last sign of life: a job started, checked in, or ended
        self.pulse = time.monotonic()

    # --- requests (any thread) -------------------------------------------------------------
    def request(self, kind: str) -> None:
        """Ask for one run of ``kind`` (coalesced with one already queued)."""
        if kind not in self.handlers:
            raise KeyError(f"no handler for {kind!r}")
        with self._cond:
            self._pending.add(kind)
            self._cond.notify_all()

    def pending(self) -> set[str]:
        """Kinds waiting to run."""
        with self._cond:
            return set(self._pending)

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True once stop() was called: handlers end after the batch in hand."""
        return self._stopping.is_set()

    def check(self) -> None:
        """Raise Interrupted if the daemon is stopping (call between committed batches)."""
        self.pulse = time.monotonic()
        if self._stopping.is_set():
            raise Interrupted("the daemon is shutting down")

    def stalled_for(self) -> float:
        """Seconds the job in hand has gone without a sign of life (0 while idle)."""
        if self.running is None:
            return 0.0
        return max(time.monotonic() - self.pulse, 0.0)

    @property
    def alive(self) -> bool:
        """Whether the writer thread is still running (a job may outlive ``stop``)."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait for the writer thread to end; True once it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.alive

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Finish the batch in hand and stop; False if it did not end within ``timeout``."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            return True
        if self._thread is threading.current_thread():
            return False  # asked from a job: it ends at its next check
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _next(self) -> str | None:
        with self._cond:
            while not self._pending and not self._stopping.is_set():
                self._cond.wait()
            if self._stopping.is_set():
                return None
            kind = min(self._pending, key=lambda k: self._rank.get(k, len(self._rank)))
            self._pending.discard(kind)
            self.pulse = time.monotonic()
            self.running = kind
            return kind

    def _loop(self) -> None:
        while True:
            kind = self._next()
            if kind is None:
                return
            started = self.pulse = time.monotonic()
            status = "ok"
            error: BaseException | None = None
            try:
                self.handlers[kind]()
            except Interrupted:
                status = "interrupted"
                log.info("daemon.job_interrupted", job=kind)
            except Exception as err:  # one failed job must not end the daemon
                status, error = "error", err
                log.error("daemon.job_failed", job=kind, error=str(err), kind=type(err).__name__)
            finally:
                self.running = None
                self.pulse = time.monotonic()
            if self.on_done is not None:
                try:
                    self.on_done(kind, status, time.monotonic() - started, error)
                except Exception as err:
                    log.error("daemon.after_job_failed", job=kind, error=str(err))
