"""The store's single-writer lock as sync, backfill, reconcile and the daemon take it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from connector.errors import FatalError
from connector.service.runtime import Runtime
from connector.store.locks import acquire_run_lock, lock_holder

__all__ = ["STORE_LOCK", "RunLocked", "describe_holder", "run_lock"]

# One name for every kind of run: one writer per store (invariant 7), whatever it does.
STORE_LOCK = "store"


class RunLocked(FatalError):
    """Another run holds the store's lock (exit 1; try again later or pass --wait)."""


def _holder_text(kind: str, since: datetime) -> str:
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"prm {kind} {os.getpid()} {stamp}"


def describe_holder(text: str | None) -> str:
    """The refusal message for a lock held by ``text`` (as ``run_lock`` writes it)."""
    parts = (text or "").split()
    if len(parts) == 4 and parts[0] == "prm":
        _, kind, pid, stamp = parts
        when = stamp.replace("T", " ").replace("Z", " UTC")
        return f"another run ({kind}) holds the store since {when}, pid {pid}"
    return "another run holds the store"


@contextmanager
def run_lock(rt: Runtime, kind: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the store's lock while the block runs; a held lock raises ``RunLocked``.

    ``wait`` waits for the holder to finish instead. The lock vanishes with the process, so a
    crashed run never leaves it behind.
    """
    holder = _holder_text(kind, rt.clock())
    with acquire_run_lock(rt.engine, STORE_LOCK, holder=holder, wait=wait) as ok:
        if not ok:
            message = describe_holder(lock_holder(rt.engine, STORE_LOCK))
            raise RunLocked(f"{message}; wait for it to finish or pass --wait")
        yield
