"""Apply one page of raw Salesforce rows to the store, inside the caller's transaction.

The page goes through four steps, each a unit of its own: ``classify`` (dedupe on (Id,
SystemModstamp) against the snapshots), ``map_rows`` (typed local values; rows the mapping or
the store cannot take are rejected by field), ``resolve_lookups`` (Salesforce Ids to local
ids) and ``persist`` (rows and snapshots in a savepoint that isolates rows the store refuses,
dead letters, then the change log). The caller commits this together with the new cursor
(invariant 2), so a crash replays the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from connector.mapping import EntityMapping
from connector.store import repo
from connector.store.diffs import RecordDiff
from connector.sync.classify import classify, latest_per_id
from connector.sync.maprows import map_rows
from connector.sync.persist import jsonable, log_changes, park, plan_deletes, write_isolated

__all__ = ["PageResult", "apply_page", "jsonable"]


@dataclass
class PageResult:
    """What a page did: diffs to hand to triggers, counts, and the newest stamp seen."""

    diffs: list[RecordDiff] = field(default_factory=list)
    seen: int = 0
    skipped: int = 0  # already applied (same or older SystemModstamp)
    dead: int = 0
    max_modstamp: datetime | None = None
    # the rows that could not be stored (dead-lettered now, or already parked at that version)
    rejected_ids: list[str] = field(default_factory=list)

    def outcomes(self) -> dict[str, bool | None]:
        """Per Salesforce id: echo? for the rows that produced a change-log entry, None for the
        rows that could not be stored (dead-lettered)."""
        out: dict[str, bool | None] = {sf_id: None for sf_id in self.rejected_ids}
        out.update({d.sf_id: d.echo for d in self.diffs})
        return out


def apply_page(
    conn: Connection,
    entity: EntityMapping,
    rows: Sequence[dict[str, Any]],
    *,
    cycle_id: str,
    source: str = "poll",
    force: bool = False,
    integration_user_id: str | None = None,
) -> PageResult:
    """Apply ``rows`` (raw sObject dicts of ``entity``'s object) and return the diffs.

    ``force`` re-applies rows whose SystemModstamp the snapshot already has (reconcile uses it:
    formula fields change without touching SystemModstamp).
    """
    result = PageResult(seen=len(rows))
    if not rows:
        return result
    latest = latest_per_id(rows)
    snaps = repo.load_snapshots(conn, entity.name, [r["Id"] for r, _ in latest])
    page = classify(latest, snaps, force=force)
    result.skipped = page.skipped
    result.max_modstamp = page.max_modstamp

    mapped, rejected = map_rows(entity, page.upserts, dialect=conn.dialect.name)
    written = write_isolated(conn, entity, mapped, source=source)
    if page.deletes:
        repo.mark_deleted(conn, entity.name, [inc.sf_id for inc in page.deletes])
    result.dead = park(conn, entity, [*rejected, *written.rejected])
    result.rejected_ids = [r.incoming.sf_id for r in (*rejected, *written.rejected)]
    diffs = [*written.diffs, *plan_deletes(entity, page.deletes, source=source)]
    result.diffs = log_changes(
        conn,
        entity,
        diffs,
        written.ids,
        cycle_id=cycle_id,
        integration_user_id=integration_user_id,
    )
    return result
