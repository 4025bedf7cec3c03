"""What a pipeline stage is handed: the typed context of one run of the post-inbound stages.

The stages (outbox-local, programs, triggers, outbox) live below the service layer, which
composes them (``connector.service.stages``); they take this context, not the service's
Runtime, so each sees exactly what it may use: the store's engine, the mapping, the settings,
the clock, the run id, and the Salesforce client on demand (only the outbox dispatch calls it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine

from connector.mapping import MappingSpec
from connector.settings import Settings

if TYPE_CHECKING:
    from connector.salesforce import SalesforceClient

__all__ = ["Stage", "StageContext"]


@dataclass(frozen=True)
class StageContext:
    """Engine, mapping, settings, clock, run id and rule environment of one run of the stages."""

    engine: Engine
    spec: MappingSpec
    settings: Settings
    run_id: str
    clock: Callable[[], datetime]
    # connects on first call (a run with nothing to send never logs in)
    client: Callable[[], SalesforceClient]
    # the runtime's rule environment (service.rules.RulesEnvironment: facts, actions, the
    # loaded triggers.yaml and programs.yaml, the fiscal calendar); typed loosely here because
    # it is built above the stages
    rules: Any = None

    @property
    def now(self) -> datetime:
        """The clock's time now."""
        return self.clock()


class Stage(Protocol):
    """One post-inbound step of a cycle (consumes the change log, writes back, ...)."""

    name: str

    def run(self, ctx: StageContext) -> dict[str, int]:
        """Do the step's work for the run ``ctx.run_id``; return counts for the run report."""
        ...
