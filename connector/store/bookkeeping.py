"""The sync's own tables: cursors, snapshots, change log, outbox, firings, dead letters, runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, event, false
from sqlmodel import Field, SQLModel

from connector.store import outbox_counts as _outbox_counts
from connector.store.types import JSONValue, UTCDateTime, utcnow

__all__ = [
    "BOOKKEEPING_MODELS",
    "ApiUsageSample",
    "CdcSubscription",
    "ChangeLog",
    "ConsumerOffset",
    "DeadLetter",
    "OpsAction",
    "OutboxConflict",
    "OutboxItem",
    "OutboxWritten",
    "ReceivedNotification",
    "Snapshot",
    "StoreLease",
    "SyncRun",
    "SyncState",
    "TriggerFiring",
]


def _stamp(*, nullable: bool = True) -> Any:
    """A UTC datetime column; ``nullable=False`` ones default to now."""
    if nullable:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow})


def _json() -> Any:
    return Field(default=None, sa_type=JSONValue())


class SyncState(SQLModel, table=True):
    """Per-object sync progress; keyed by the name the sync uses (the local entity name)."""

    __tablename__ = "sync_state"
    sobject: str = Field(primary_key=True)
    cursor: datetime | None = _stamp()
    deleted_cursor: datetime | None = _stamp()
    backfill: dict[str, Any] | None = _json()
    last_run_at: datetime | None = _stamp()
    last_status: str | None = None
    last_error: str | None = None
    rows_total: int | None = None


class Snapshot(SQLModel, table=True):
    """The mapped values last seen for a Salesforce record: the 'old' side of the next diff."""

    __tablename__ = "snapshot"
    entity: str = Field(primary_key=True)
    sf_id: str = Field(primary_key=True)
    values: dict[str, Any] | None = _json()
    hash: str | None = None
    modstamp: datetime | None = _stamp()
    deleted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    local_id: int | None = None
    updated_at: datetime = _stamp(nullable=False)


class ChangeLog(SQLModel, table=True):
    """One applied diff (created, updated, deleted, undeleted) of one record."""

    __tablename__ = "change_log"
    __table_args__ = (Index("ix_change_log_entity_sf_id", "entity", "sf_id"),)
    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(index=True)
    entity: str
    sf_id: str | None = None
    local_id: int | None = None
    op: str
    old: dict[str, Any] | None = _json()
    new: dict[str, Any] | None = _json()
    changed: list[str] | None = _json()
    origin: str | None = None
    modstamp: datetime | None = _stamp()
    recorded_at: datetime = _stamp(nullable=False)
    # backfill | poll | reconcile | push | local: consumers decide which are business events
    source: str = Field(default="poll", sa_column_kwargs={"server_default": "poll"})
    # our own write coming back from Salesforce: it updates the snapshot and fires nothing
    echo: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class ConsumerOffset(SQLModel, table=True):
    """How far a named consumer (triggers, outbox, ...) has read the change log."""

    __tablename__ = "consumer_offset"
    consumer: str = Field(primary_key=True)
    seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    updated_at: datetime = _stamp(nullable=False)


class OutboxItem(SQLModel, table=True):
    """A write to Salesforce waiting for the dispatcher; the id is deterministic (invariant 3)."""

    __tablename__ = "outbox_item"
    __table_args__ = (
        Index("ix_outbox_item_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_item_seq", "seq", unique=True),
        # 0014_web: the operations page lists items by status (and error code), newest change
        # first, groups dead ones by code, and finds them by Salesforce id or local id
        Index("ix_outbox_item_status_updated", "status", "updated_at"),
        Index("ix_outbox_item_status_code", "status", "error_code", "updated_at"),
        Index("ix_outbox_item_sf_id", "sf_id"),
        Index("ix_outbox_item_local_id", "local_id"),
        # 0016_opsperf: the oldest pending item (`status`) without reading every pending one;
        # the unfiltered list, newest change first, without sorting every item
        Index("ix_outbox_item_status_created", "status", "created_at"),
        Index("ix_outbox_item_updated", "updated_at"),
    )
    id: str = Field(primary_key=True)
    entity: str
    local_id: int | None = None
    sf_id: str | None = None
    sobject: str
    operation: str
    payload: dict[str, Any] | None = _json()
    status: str = Field(default="pending", sa_column_kwargs={"server_default": "pending"})
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = _stamp()
    last_error: str | None = None
    created_at: datetime = _stamp(nullable=False)
    updated_at: datetime = _stamp(nullable=False)
    # 0004_outbox: the record it goes to (writes to one record coalesce), the change-log
    # sequence when it was queued (later Salesforce edits are conflicts), and its outcome
    record_key: str | None = Field(default=None, index=True)
    base_seq: int | None = None
    error_code: str | None = None
    error_fields: list[str] | None = _json()
    result_id: str | None = None
    written: dict[str, Any] | None = _json()
    reason: str | None = None
    done_at: datetime | None = _stamp()
    # 0010_outbox: the order items were queued in (monotonic, assigned at insert; items of one
    # transaction keep their order): coalescing, conflict sources and claims follow it, never
    # the clock (items of one transaction share created_at)
    seq: int | None = None


class OutboxCount(SQLModel, table=True):
    """How many outbox items have a status and Salesforce error code (``''`` for none), kept
    by triggers on ``outbox_item`` (``connector.store.outbox_counts``; 0016_opsperf)."""

    __tablename__ = "outbox_count"
    status: str = Field(primary_key=True)
    error_code: str = Field(primary_key=True)
    n: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


# a fresh store (create_all) gets the triggers that keep outbox_count, as the migration does
event.listen(SQLModel.metadata, "after_create", _outbox_counts._after_create)


class OutboxWritten(SQLModel, table=True):
    """What the connector last wrote to a Salesforce record: echoes are recognised by it."""

    __tablename__ = "outbox_written"
    __table_args__ = (Index("ix_outbox_written_sf_id", "sobject", "sf_id"),)
    sobject: str = Field(primary_key=True)
    record_key: str = Field(primary_key=True)
    sf_id: str | None = None
    entity: str | None = None
    fields: dict[str, Any] | None = _json()
    item_id: str | None = None
    written_at: datetime = _stamp(nullable=False)


class OutboxConflict(SQLModel, table=True):
    """A `both` field changed on both sides before a write-back, and who won."""

    __tablename__ = "outbox_conflict"
    __table_args__ = (
        Index("ix_outbox_conflict_item_field", "item_id", "field", unique=True),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: str
    entity: str
    sobject: str
    sf_id: str | None = None
    field: str
    prm_value: Any | None = _json()
    crm_value: Any | None = _json()
    policy: str
    winner: str  # "crm" | "prm"
    change_seq: int | None = None
    detected_at: datetime = _stamp(nullable=False)


class TriggerFiring(SQLModel, table=True):
    """A trigger that fired for a record version or period; the unique key makes it once."""

    __tablename__ = "trigger_firing"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    trigger_id: str = Field(index=True)
    entity: str
    local_id: int | None = None
    fired_at: datetime = _stamp(nullable=False)
    result: dict[str, Any] | None = _json()


class DeadLetter(SQLModel, table=True):
    """A record or write that could not be processed, parked for a person to look at."""

    __tablename__ = "dead_letter"
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    entity: str | None = Field(default=None, index=True)
    sobject: str | None = None
    sf_id: str | None = None
    payload: dict[str, Any] | None = _json()
    code: str | None = None
    message: str | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = _stamp(nullable=False)
    resolved_at: datetime | None = _stamp()


class ApiUsageSample(SQLModel, table=True):
    """The org's API usage as last reported, and the calls this connector made."""

    __tablename__ = "api_usage_sample"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _stamp(nullable=False)
    used: int | None = None
    max: int | None = None
    calls: int | None = None


class SyncRun(SQLModel, table=True):
    """One sync, backfill or reconcile run, for `status` and the metrics."""

    __tablename__ = "sync_run"
    id: str = Field(primary_key=True)
    kind: str
    started_at: datetime = _stamp(nullable=False)
    finished_at: datetime | None = _stamp()
    status: str | None = None
    counts: dict[str, Any] | None = _json()
    error: str | None = None


class ReceivedNotification(SQLModel, table=True):
    """A push notification stored before it is acknowledged (invariant 4); unique per id."""

    __tablename__ = "received_notification"
    __table_args__ = (Index("ix_received_notification_processed_at", "processed_at"),)
    id: int | None = Field(default=None, primary_key=True)
    notification_id: str = Field(unique=True, index=True)
    sobject: str | None = None
    sf_id: str | None = None
    received_at: datetime = _stamp(nullable=False)
    processed_at: datetime | None = _stamp()
    # outbound (a Salesforce Outbound Message) | event (a signed webhook)
    source: str = Field(default="outbound", sa_column_kwargs={"server_default": "outbound"})
    # applied | echo | unchanged | missing | unmapped | invalid: what fetching the record found
    outcome: str | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = None


class StoreLease(SQLModel, table=True):
    """The store's writer lease (invariant 7): who holds it, its epoch, until when.

    Times are seconds since the Unix epoch on the store's clock (the database server's), so
    hosts with skewed clocks agree on expiry. Every write transaction of the holder checks
    its epoch (``connector.store.locks``).
    """

    __tablename__ = "store_lease"
    name: str = Field(primary_key=True)
    holder: str
    epoch: int
    expires_at: float
    renewed_at: float


class CdcSubscription(SQLModel, table=True):
    """A Change Data Capture subscription's position, committed with the changes it applied
    (invariant 2), and what `status` shows about it."""

    __tablename__ = "cdc_subscription"
    topic: str = Field(primary_key=True)  # /data/AccountChangeEvent
    entity: str
    replay_id: str | None = None  # base64 of the last applied event's opaque replay id
    commit_at: datetime | None = _stamp()  # commitTimestamp of the last event applied
    # live | repolling (a gap events could not fill: polling re-reads from commit_at - margin)
    state: str = Field(default="live")
    detail: str | None = None  # the last gap's reason, for `status`
    events: int = Field(default=0)
    gaps: int = Field(default=0)  # GAP_* events (records re-read)
    repolls: int = Field(default=0)  # overflow, refused replay id, allocation exceeded
    updated_at: datetime | None = _stamp()


class OpsAction(SQLModel, table=True):
    """One operator action taken on the operations page: who, what, on what, when, why."""

    __tablename__ = "ops_action"
    __table_args__ = (Index("ix_ops_action_at", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _stamp(nullable=False)
    actor: str
    action: str  # retry | retry_all | drop
    target: str | None = None
    reason: str | None = None
    detail: dict[str, Any] | None = _json()


BOOKKEEPING_MODELS: tuple[type[SQLModel], ...] = (
    SyncState,
    Snapshot,
    ChangeLog,
    ConsumerOffset,
    OutboxItem,
    OutboxWritten,
    OutboxConflict,
    TriggerFiring,
    DeadLetter,
    ApiUsageSample,
    SyncRun,
    ReceivedNotification,
    StoreLease,
    CdcSubscription,
    OpsAction,
)
