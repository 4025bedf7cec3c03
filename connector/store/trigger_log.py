"""The triggers' own tables: every decision with its inputs (the audit), and pending changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from connector.store.types import JSONValue, UTCDateTime, utcnow

__all__ = ["TRIGGER_MODELS", "TriggerDecision", "TriggerPending"]


class TriggerDecision(SQLModel, table=True):
    """One rule evaluated on one change or scheduled record: what it saw, decided and did."""

    __tablename__ = "trigger_decision"
    __table_args__ = (
        Index("ix_trigger_decision_rule_at", "trigger_id", "decided_at"),
        Index("ix_trigger_decision_record", "entity", "local_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    decided_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow}
    )
    run_id: str | None = None
    trigger_id: str
    entity: str
    local_id: int | None = None
    sf_id: str | None = None
    change_seq: int | None = None
    # fired | not_fired | already_fired | dry_run | error
    outcome: str
    branch: str | None = None  # actions | otherwise | None
    stage: str = "live"
    reason: str | None = None
    firing_key: str | None = None
    inputs: dict[str, Any] | None = Field(default=None, sa_type=JSONValue())
    actions: list[Any] | None = Field(default=None, sa_type=JSONValue())
    outbox_ids: list[Any] | None = Field(default=None, sa_type=JSONValue())


class TriggerPending(SQLModel, table=True):
    """A deferred effect (a tier downgrade waiting out its grace period), applied when due."""

    __tablename__ = "trigger_pending"
    key: str = Field(primary_key=True)
    kind: str
    entity: str
    local_id: int
    payload: dict[str, Any] | None = Field(default=None, sa_type=JSONValue())
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow}
    )


TRIGGER_MODELS: tuple[type[SQLModel], ...] = (TriggerDecision, TriggerPending)
