"""Step 1 of the inbound page pipeline (pure): which rows are new, changed, deleted or seen.

Dedupe on (Id, SystemModstamp) against the snapshots: a row whose stamp the snapshot already
has is skipped (invariant 1 re-reads the window's start on purpose), unless ``force``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.store.records import SnapshotRow
from connector.sync.window import parse_sf_datetime

__all__ = ["Classified", "Incoming", "classify", "latest_per_id"]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One raw row to apply, its parsed SystemModstamp and the snapshot it meets (if any)."""

    row: dict[str, Any]
    stamp: datetime
    snap: SnapshotRow | None

    @property
    def sf_id(self) -> str:
        """The record's Salesforce Id."""
        return str(self.row["Id"])


@dataclass
class Classified:
    """A page sorted by what it asks of the store."""

    upserts: list[Incoming] = field(default_factory=list)  # created, updated or undeleted
    deletes: list[Incoming] = field(default_factory=list)  # live in the store, deleted in SF
    skipped: int = 0  # already applied, or a delete of a row we never had live
    max_modstamp: datetime | None = None  # newest stamp on the page (the cursor's next value)


def latest_per_id(rows: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], datetime]]:
    """The newest copy of each Id with its parsed stamp (a page may hold one Id twice)."""
    best: dict[str, tuple[dict[str, Any], datetime]] = {}
    for row in rows:
        stamp = parse_sf_datetime(row["SystemModstamp"])
        prev = best.get(row["Id"])
        if prev is None or stamp >= prev[1]:
            best[row["Id"]] = (row, stamp)
    return list(best.values())


def classify(
    latest: Sequence[tuple[dict[str, Any], datetime]],
    snaps: Mapping[str, SnapshotRow],
    *,
    force: bool = False,
) -> Classified:
    """Sort ``latest`` (from ``latest_per_id``) against the snapshots already stored.

    ``force`` re-applies rows whose SystemModstamp the snapshot already has (reconcile: formula
    fields change without touching SystemModstamp).
    """
    out = Classified()
    for row, stamp in latest:
        if out.max_modstamp is None or stamp > out.max_modstamp:
            out.max_modstamp = stamp
        snap = snaps.get(row["Id"])
        deleted = bool(row.get("IsDeleted"))
        seen = snap is not None and snap.modstamp is not None and stamp <= snap.modstamp
        if seen and not force and snap is not None and deleted == snap.deleted:
            out.skipped += 1
        elif deleted:
            if snap is not None and not snap.deleted:
                out.deletes.append(Incoming(row, stamp, snap))
            else:
                out.skipped += 1
        else:
            out.upserts.append(Incoming(row, stamp, snap))
    return out
