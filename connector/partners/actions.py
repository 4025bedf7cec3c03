"""What an action is, below triggers and programs: its definition, environment and result
(pure data: the tier moves both use are in ``connector.partners.tiers``).

A rule environment (``connector.partners.env.RuleEnv``) holds the actions rules may name:
the triggers' built-ins and those programs contributes, each an ``ActionDef`` with its
executor. Executors change local rows in the caller's transaction and return the outbox
writes they want; they never call Salesforce.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.errors import SkippableError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from connector.mapping.spec import MappingSpec
    from connector.outbox.items import OutboxWrite

__all__ = [
    "ActionDef",
    "ActionEnv",
    "ActionFailed",
    "ActionResult",
    "Executor",
    "Params",
    "PlannedAction",
    "ReviewTier",
    "RuleSettings",
]


class ActionFailed(SkippableError):
    """An action that cannot be carried out for this record (recorded; the others go on)."""


@dataclass(frozen=True)
class RuleSettings:
    """The rule settings actions and facts read (triggers.yaml's ``settings:``)."""

    fiscal_year_start_month: int = 1
    protection_window_days: int = 90
    downgrade_grace_days: int = 30


@dataclass(frozen=True, slots=True)
class PlannedAction:
    """An action to run, with its CEL parameters already evaluated."""

    name: str
    params: dict[str, Any]


@dataclass
class ActionEnv:
    """What an action runs against: the transaction, the mapping, the clock, the cause."""

    conn: Connection
    spec: MappingSpec
    settings: RuleSettings
    now: datetime
    rule_id: str
    entity: str
    local_id: int | None
    sf_id: str | None
    record: dict[str, Any]
    cause: str  # the firing key: fixes the outbox ids

    @property
    def partner_id(self) -> int | None:
        """The local id of the record's partner."""
        if self.entity == "partner":
            return self.local_id
        value = self.record.get("partner")
        return int(value) if isinstance(value, int) else None


@dataclass
class ActionResult:
    """What an action did: a short detail for the audit, its writes, the partner it changed.

    ``changed``: the store tables whose rows it changed, when it knows (None: any), so the
    partner maps of the batch that are read from none of them stay cached."""

    action: str
    status: str  # done | skipped | pending
    detail: str
    writes: list[OutboxWrite] = field(default_factory=list)
    partner_changed: bool = False
    changed: frozenset[str] | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready, for the audit."""
        return {"action": self.action, "status": self.status, "detail": self.detail}


class Params(BaseModel):
    """An action's parameters (unknown ones are refused at load)."""

    model_config = ConfigDict(extra="forbid")


class ReviewTier(Params):
    """``review_tier: {}``: the partner's program ladder (programs.yaml) sets its tier, up or
    down, at once, with why (the built-in quarterly review)."""

    program: str | None = None  # a program id of programs.yaml; default: the membership's
    reason: str = "quarterly tier review"
    # a downgrade passes at most this many levels a review (null: straight to the ladder's
    # level); 1 keeps a partner whose figures are not in the PRM yet from falling from
    # Platinum to Registered at the first review after install
    max_levels_down: int | None = Field(default=1, ge=1)


Executor = Callable[[ActionEnv, PlannedAction], ActionResult]


@dataclass(frozen=True)
class ActionDef:
    """One action: its parameter model, which parameters are CEL, where it applies, and the
    executor that carries it out."""

    name: str
    params: type[Params]
    cel: dict[str, Literal["number", "any"]] = field(default_factory=dict)
    entities: tuple[str, ...] | None = None  # None: any entity
    needs_partner: bool = True
    run: Executor | None = field(default=None, compare=False)
