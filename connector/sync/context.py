"""What every sync service is handed by the composition root: no module globals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from connector.mapping import MappingSpec
from connector.salesforce import SalesforceClient
from connector.settings import SyncSettings

__all__ = ["Progress", "SyncContext", "new_cycle_id", "utcnow"]

# (entity, rows done, rows expected or None) -> None; the CLI draws a bar with it.
Progress = Callable[[str, int, int | None], None]


def utcnow() -> datetime:
    """The wall clock in UTC (the default clock of every service)."""
    return datetime.now(UTC)


def new_cycle_id() -> str:
    """A fresh id for one cycle's change log entries."""
    return uuid.uuid4().hex


def _no_progress(_entity: str, _done: int, _total: int | None) -> None:
    return None


@dataclass
class SyncContext:
    """Engine, client, mapping and settings for one run of a sync service."""

    engine: Engine
    client: SalesforceClient
    spec: MappingSpec
    settings: SyncSettings
    clock: Callable[[], datetime] = utcnow
    progress: Progress = field(default=_no_progress)
