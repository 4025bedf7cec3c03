"""A person's edits to program state (the CLI's `record ...`): one transaction each.

The effects go to the change log with source "local" (the outbox-local consumer writes the
partner's points and new certifications back to Salesforce), and the partner's segments are
recomputed at once; entering or leaving one is logged as a ``segment_entered`` /
``segment_left`` entry on the partner, which triggers can watch. Given the mapping, what the
partner portal reads (its segments and eligibility records) is queued in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine

from connector.mapping.spec import MappingSpec
from connector.outbox.items import enqueue
from connector.programs.operations import (
    LocalChange,
    Outcome,
    SegmentEvent,
    award_points,
    complete_step,
    enroll,
    local_diffs,
    refresh_segments,
)
from connector.programs.portal import refresh_portal
from connector.programs.spec import ProgramsSpec
from connector.programs.views import resolve_partner
from connector.store.diffs import RecordDiff
from connector.store.records import sf_ids_by_local
from connector.store.stream import append_changes

__all__ = ["record_enrolment", "record_points", "record_step", "segment_diffs"]


def segment_diffs(conn: Connection, events: Sequence[SegmentEvent]) -> list[RecordDiff]:
    """Change-log entries for segment entries and exits (entity partner, source local)."""
    if not events:
        return []
    sf = sf_ids_by_local(conn, "partner", sorted({e.partner_id for e in events}))
    return [
        RecordDiff(
            entity="partner", sf_id=cast(str, sf.get(e.partner_id)), op=cast(Any, e.event),
            old=None, new={"segment": e.segment, "event": e.event}, changed=("segment",),
            origin=None, modstamp=None, local_id=e.partner_id, source="local",
        )
        for e in events
    ]


def _finish(
    conn: Connection, spec: ProgramsSpec, pid: int, changes: list[LocalChange], now: datetime,
    mapping: MappingSpec | None,
) -> list[SegmentEvent]:
    events, _ = refresh_segments(conn, spec, now, [pid])
    diffs = local_diffs(changes) + segment_diffs(conn, events)
    cycle_id = f"local-{uuid.uuid4().hex[:12]}"
    append_changes(conn, diffs, cycle_id=cycle_id)
    if mapping is not None:  # what the partner portal reads, in the edit's transaction
        enqueue(conn, refresh_portal(conn, mapping, spec, now, [pid],
                                     cause=f"portal:{cycle_id}").writes)
    return events


def _result(outcome: Outcome, pid: int, events: list[SegmentEvent]) -> dict[str, Any]:
    return {
        "partner_id": pid,
        "done": outcome.done,
        "detail": outcome.detail,
        "points": outcome.points,
        "changes": [{"entity": c.entity, "local_id": c.local_id, "op": c.op, "new": c.new}
                    for c in outcome.changes],
        "segments": [{"segment": e.segment, "event": e.event} for e in events],
    }


def record_step(
    engine: Engine, spec: ProgramsSpec, partner: str, step: str, *, by: str, now: datetime,
    mapping: MappingSpec | None = None,
) -> dict[str, Any]:
    """Mark ``step`` complete for ``partner`` (refused with the reason when out of order)."""
    with engine.begin() as conn:
        pid = resolve_partner(conn, partner)
        outcome = complete_step(conn, spec, pid, step, source="local", cause=f"person:{by}",
                                now=now)
        events = _finish(conn, spec, pid, outcome.changes, now, mapping)
    return _result(outcome, pid, events)


def record_points(
    engine: Engine, spec: ProgramsSpec, partner: str, points: int, *, reason: str, by: str,
    now: datetime, mapping: MappingSpec | None = None,
) -> dict[str, Any]:
    """Add ``points`` (negative to deduct) to ``partner``'s ledger with ``reason``."""
    with engine.begin() as conn:
        pid = resolve_partner(conn, partner)
        outcome = award_points(conn, pid, points, reason=reason, cause=f"person:{by}", now=now)
        events = _finish(conn, spec, pid, outcome.changes, now, mapping)
    return _result(outcome, pid, events)


def record_enrolment(
    engine: Engine, spec: ProgramsSpec, partner: str, track: str, *, by: str, now: datetime,
    mapping: MappingSpec | None = None,
) -> dict[str, Any]:
    """Enrol ``partner`` in ``track`` by hand."""
    with engine.begin() as conn:
        pid = resolve_partner(conn, partner)
        added = enroll(conn, spec, pid, track, source="local", cause=f"person:{by}", now=now)
        events = _finish(conn, spec, pid, [], now, mapping)
    detail = f"enrolled in {track}" if added else f"already enrolled in {track}"
    return _result(Outcome(added, detail), pid, events)
