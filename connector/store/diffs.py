"""What one change did to the local store: a RecordDiff (pure data), the unit the change log
records (``store.stream.append_changes``) and inbound sync produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["Op", "RecordDiff"]

Op = Literal["created", "updated", "deleted", "undeleted"]


@dataclass(frozen=True)
class RecordDiff:
    """One change as triggers and the change log see it: old and new mapped values."""

    entity: str
    sf_id: str
    op: Op
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    changed: tuple[str, ...]
    origin: str | None  # LastModifiedById: who made the change in Salesforce
    modstamp: datetime | None
    local_id: int | None = None
    echo: bool = False  # our own write coming back: updates the snapshot, fires nothing
    source: str = "poll"  # poll | backfill | reconcile | push | local
    extra: dict[str, Any] = field(default_factory=dict)
