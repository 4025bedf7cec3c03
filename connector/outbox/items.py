"""What a trigger action or a local PRM change asks to write to Salesforce, and how it is queued.

``enqueue`` runs in the caller's transaction (the one that commits the firing or the local
change), so an effect and its write-back are committed together or not at all. Ids are
deterministic: replaying the same cause after a crash queues nothing new (invariant 3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Table, func, select

from connector.store.bookkeeping import OutboxItem
from connector.store.sqlutil import to_json_safe, upsert_stmt
from connector.store.stream import LATEST_SEQ
from connector.store.types import utcnow

__all__ = ["Operation", "OutboxWrite", "enqueue", "next_seq", "outbox_id"]

Operation = Literal["update", "upsert", "delete", "notify"]
OUTBOX: Table = OutboxItem.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OutboxWrite:
    """One record write (or webhook) a cause wants made.

    - ``update``: ``sf_id`` names the record; ``fields`` are Salesforce field names -> values.
    - ``upsert``: the idempotent create: ``external_id_field`` (``PRM_Key__c``) and
      ``external_id`` name the record; replaying it updates instead of duplicating.
    - ``delete``: removes a record the connector created: ``sf_id`` when known, else the
      dispatcher finds the Id by ``external_id_field``/``external_id`` (a record never
      created in Salesforce is settled without a call). ``fields`` is empty.
    - ``notify``: an HTTP POST; ``fields`` holds ``url``, ``secret_env`` and ``body``.

    ``cause`` is what made it (a firing key, ``change:<seq>``): with the target it fixes the id.
    """

    sobject: str
    operation: Operation
    fields: dict[str, Any]
    cause: str
    sf_id: str | None = None
    external_id_field: str | None = None
    external_id: str | None = None
    entity: str | None = None
    local_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.operation == "update" and not self.sf_id:
            raise ValueError(f"an update of {self.sobject} needs the record's sf_id")
        if self.operation == "upsert" and not (self.external_id_field and self.external_id):
            raise ValueError(f"an upsert of {self.sobject} needs an external id field and value")
        if self.operation == "delete" and not (
                self.sf_id or (self.external_id_field and self.external_id)):
            raise ValueError(f"a delete of {self.sobject} needs its sf_id or external id")
        if not self.cause:
            raise ValueError("an outbox write needs its cause (firing key or change)")

    @property
    def target(self) -> str:
        """The record (or URL) this write goes to."""
        if self.operation == "update":
            return str(self.sf_id)
        if self.operation == "upsert" or (self.operation == "delete" and self.external_id):
            return f"{self.external_id_field}={self.external_id}"
        if self.operation == "delete":
            return str(self.sf_id)
        return str(self.fields.get("url", ""))


def outbox_id(write: OutboxWrite) -> str:
    """Deterministic id: the same cause, operation, object, target and field names -> same id."""
    key = orjson.dumps(
        [write.cause, write.operation, write.sobject, write.target, sorted(write.fields)]
    )
    return hashlib.sha256(key).hexdigest()[:32]


def next_seq(conn: Connection) -> int:
    """The sequence the next queued item gets (one above the highest so far).

    One writer holds the store (its lease), so reading the top in the enqueuing transaction
    is enough; the unique index on ``seq`` turns a second, unfenced writer's collision into an
    error instead of two items with one place in the order.
    """
    top = conn.execute(_TOP_SEQ).scalar()
    return int(top or 0) + 1


_TOP_SEQ = select(func.max(OUTBOX.c.seq))  # built once: reused, it keeps its cache key
_TOPS = select(LATEST_SEQ.scalar_subquery(), _TOP_SEQ.scalar_subquery())


def enqueue(conn: Connection, writes: Sequence[OutboxWrite]) -> list[str]:
    """Queue ``writes`` as pending outbox items (duplicates of queued ids are ignored).

    Each item gets the next sequence number, in the order of ``writes``: later writes to a
    record win the coalescing, whatever their clock says.
    """
    ids: list[str] = []
    rows: list[dict[str, Any]] = []
    now = utcnow()
    base = first = 0
    if writes:
        # Salesforce edits recorded after ``base`` (latest_seq), to the fields written, are
        # conflicts; ``first`` is next_seq's. Read together: one round trip per enqueue.
        base, top = conn.execute(_TOPS).one()
        base, first = int(base or 0), int(top or 0) + 1
    for n, w in enumerate(writes):
        item_id = outbox_id(w)
        ids.append(item_id)
        rows.append(
            {
                "id": item_id,
                "seq": first + n,
                # writes to one record coalesce; each notify stands alone
                "record_key": item_id if w.operation == "notify" else w.target,
                "base_seq": base,
                "entity": w.entity or w.sobject,
                "local_id": w.local_id,
                "sf_id": w.sf_id,
                "sobject": w.sobject,
                "operation": w.operation,
                "payload": {
                    "fields": to_json_safe(w.fields),
                    "cause": w.cause,
                    "external_id_field": w.external_id_field,
                    "external_id": w.external_id,
                    "meta": to_json_safe(w.meta),
                },
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    if rows:
        stmt = upsert_stmt(conn, OUTBOX).on_conflict_do_nothing(index_elements=["id"])
        conn.execute(stmt, rows)
    return ids
