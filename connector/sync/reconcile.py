"""Reconcile: compare the org with the store by key and a hash of the mapped fields.

Catches what polling cannot see: formula and roll-up fields that change without touching
SystemModstamp, and deletes that left no trace (purged from the recycle bin more than
``deleted_lookback_days`` ago, or made while the connector was down). Drifted rows are
re-applied as ordinary diffs (source ``reconcile``); rows gone from the org are marked deleted.

With a ``writeback`` hook (the outbox's ``WriteBack``), the same pages also carry the fields
the connector writes, and the hook compares them with the store and queues the difference in
each page's transaction: out-fields converge at no extra API call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection

from connector.mapping import EntityMapping, MappingError, fingerprint, to_local
from connector.store import repo
from connector.sync.apply import apply_page
from connector.sync.context import SyncContext, new_cycle_id
from connector.sync.deletes import apply_deletions
from connector.sync.prefetch import prefetched
from connector.sync.window import select_soql

__all__ = ["PageHook", "ReconcileResult", "reconcile_entity"]


class PageHook(Protocol):
    """Work done on each reconciled page, in its transaction, around applying it."""

    def extra_fields(self, entity: EntityMapping) -> list[str]:
        """Fields to select besides the inbound ones."""
        ...

    def before(
        self, conn: Connection, entity: EntityMapping, rows: list[dict[str, Any]],
        snapshots: Mapping[str, Mapping[str, Any] | None],
    ) -> None:
        """Look at the page as read (it may adjust rows) before it is applied."""
        ...

    def after(self, conn: Connection) -> int:
        """Finish the page once it is applied."""
        ...


@dataclass
class ReconcileResult:
    """What one entity's reconcile found and repaired."""

    entity: str
    checked: int = 0
    drifted: int = 0
    missing_locally: int = 0
    deleted: int = 0
    changes: int = 0  # change-log entries written (re-applied rows and deletes)
    dead_letters: int = 0

    def summary(self) -> dict[str, object]:
        """JSON-friendly counts."""
        return dict(self.__dict__)


def reconcile_entity(
    ctx: SyncContext, entity: EntityMapping, writeback: PageHook | None = None
) -> ReconcileResult:
    """Scan every live row of ``entity`` in the org and repair the store where it differs
    (and, with ``writeback``, the org's copy of the fields the connector writes)."""
    result = ReconcileResult(entity=entity.name)
    cycle_id = new_cycle_id()
    extra = writeback.extra_fields(entity) if writeback is not None else []
    soql = select_soql(
        entity.sobject, [*entity.inbound_fields(), *extra], None, filter=entity.filter,
        order=False,
    )
    seen: set[str] = set()
    for page in prefetched(ctx.client.query_pages(soql, batch_size=ctx.settings.page_size)):
        ids = [row["Id"] for row in page]
        seen.update(ids)
        with ctx.engine.begin() as conn:
            snaps = repo.load_snapshots(conn, entity.name, ids)
            if writeback is not None:
                writeback.before(conn, entity, page, {
                    k: (None if v.deleted else v.values) for k, v in snaps.items()})
            drift = []
            for row in page:
                snap = snaps.get(row["Id"])
                if snap is None or snap.deleted:
                    result.missing_locally += 1
                    drift.append(row)
                    continue
                try:
                    if snap.hash != fingerprint(to_local(entity, row)):
                        drift.append(row)
                        result.drifted += 1
                except MappingError:
                    drift.append(row)  # apply_page parks it in the dead letter queue
            res = apply_page(
                conn,
                entity,
                drift,
                cycle_id=cycle_id,
                source="reconcile",
                force=True,
                integration_user_id=ctx.client.user_id,
            )
            if writeback is not None:
                writeback.after(conn)
        result.changes += len(res.diffs)
        result.dead_letters += res.dead
        result.checked += len(page)
        ctx.progress(entity.name, result.checked, None)
    with ctx.engine.begin() as conn:
        gone = [
            (sf_id, None)
            for sf_id in repo.live_snapshot_ids(conn, entity.name)
            if sf_id not in seen
        ]
        result.deleted = len(
            apply_deletions(conn, entity, gone, cycle_id=cycle_id, source="reconcile")
        )
    result.changes += result.deleted
    return result
