"""RecordDiff lives in the store (``connector.store.diffs``), below every producer and consumer
of the change log; this name stays for the modules that import it from sync."""

from __future__ import annotations

from connector.store.diffs import Op, RecordDiff

__all__ = ["Op", "RecordDiff"]
