"""Whether a daemon is running on the store (the overview refreshes itself while one does)."""

from __future__ import annotations

from sqlalchemy import Engine

__all__ = ["daemon_runs"]


def daemon_runs(engine: Engine) -> bool:
    """True when the store's writer (the lease holder, as the status read model names it) is
    a daemon (``run``)."""
    from connector.service.status import store_writer

    holder = store_writer(engine) or ""
    parts = holder.split()
    return len(parts) == 4 and parts[0] == "prm" and parts[1] in ("daemon", "run")
