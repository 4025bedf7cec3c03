"""Whether a daemon is running on the store (the overview refreshes itself while one does)."""

from __future__ import annotations

from sqlalchemy import Engine

__all__ = ["daemon_runs"]


def daemon_runs(engine: Engine) -> bool:
    """True when the store's run lock is held by a daemon (``run``)."""
    from connector.service.lock import STORE_LOCK
    from connector.store.locks import lock_holder

    holder = lock_holder(engine, STORE_LOCK) or ""
    parts = holder.split()
    return len(parts) == 4 and parts[0] == "prm" and parts[1] in ("daemon", "run")
