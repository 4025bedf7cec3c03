"""Deletions learnt from the ``deleted`` resource or from reconcile: mark rows, log diffs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from connector.mapping import EntityMapping
from connector.store import repo
from connector.store.diffs import RecordDiff
from connector.store.stream import append_changes

__all__ = ["apply_deletions"]


def apply_deletions(
    conn: Connection,
    entity: EntityMapping,
    records: Sequence[tuple[str, datetime | None]],
    *,
    cycle_id: str,
    source: str,
) -> list[RecordDiff]:
    """Mark the live ones among ``records`` (sf_id, deleted at) deleted; one diff each."""
    if not records:
        return []
    snaps = repo.load_snapshots(conn, entity.name, [sf_id for sf_id, _ in records])
    live = [(sf_id, when) for sf_id, when in records if sf_id in snaps and not snaps[sf_id].deleted]
    if not live:
        return []
    repo.mark_deleted(conn, entity.name, [sf_id for sf_id, _ in live])
    diffs = [
        RecordDiff(
            entity=entity.name,
            sf_id=sf_id,
            op="deleted",
            old=snaps[sf_id].values,
            new=None,
            changed=(),
            origin=None,
            modstamp=when,
            local_id=snaps[sf_id].local_id,
            source=source,
        )
        for sf_id, when in live
    ]
    append_changes(conn, diffs, cycle_id=cycle_id)
    return diffs
