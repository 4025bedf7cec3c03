"""The status read model: what the store says about the connector, read in one place.

``status`` (text and ``--json``), the daemon's ``/metrics`` and ``/readyz`` and the operations
page all read through ``StatusReader`` (one read connection; each part is one or two
queries, so a caller asks only for what it shows) or take the whole document with
``read_status``. Nothing here calls Salesforce or writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text

from connector.mapping import MappingSpec
from connector.redact import redact_url
from connector.store import read_connection, repo
from connector.store.bookkeeping import (
    DeadLetter,
    ReceivedNotification,
    SyncState,
    TriggerFiring,
)
from connector.store.types import utcnow

__all__ = [
    "DEAD_SHOWN",
    "StatusReader",
    "read_status",
    "status_reader",
    "store_answers",
    "store_writer",
]

DEAD_SHOWN = 10  # newest dead letters listed by `status`


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


class StatusReader:
    """The parts of the status, each read on ``conn`` when asked for."""

    def __init__(self, conn: Connection, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.conn = conn
        self.clock = clock

    # --- inbound ---------------------------------------------------------------------------
    def objects(self, spec: MappingSpec) -> list[dict[str, Any]]:
        """Per mapped entity: rows, cursor, last run and its status/error, backfill, dead
        letters."""
        out = []
        states = repo.all_states(self.conn)
        dead = repo.dead_letters_by_entity(self.conn)
        for name, entity in spec.entities.items():
            state = states.get(name)
            out.append({
                "entity": name,
                "sobject": entity.sobject,
                "rows": repo.count_entity(self.conn, name),
                "cursor": _iso(state.cursor) if state and state.cursor else None,
                "last_run_at": _iso(state.last_run_at) if state and state.last_run_at else None,
                "last_status": state.last_status if state else None,
                "last_error": state.last_error if state else None,
                "backfill": (state.backfill or {}).get("status") if state else None,
                "dead_letters": dead.get(name, 0),
            })
        return out

    def cursor_lag(self) -> dict[str, float]:
        """Seconds between now and each entity's committed polling cursor."""
        t = SyncState.__table__  # type: ignore[attr-defined]
        now = self.clock()
        return {
            str(entity): max((now - cursor).total_seconds(), 0.0)
            for entity, cursor in self.conn.execute(select(t.c.sobject, t.c.cursor))
            if isinstance(cursor, datetime)
        }

    def api(self) -> dict[str, Any] | None:
        """The org's API usage and this connector's calls, as of the last run."""
        return repo.latest_api_usage(self.conn)

    def last_run(self) -> dict[str, Any] | None:
        """The newest ``sync_run`` row (sync, backfill, reconcile or push)."""
        return repo.latest_sync_run(self.conn)

    def push_pending(self) -> int:
        """Stored push notifications not processed yet."""
        t = ReceivedNotification.__table__  # type: ignore[attr-defined]
        stmt = select(func.count()).select_from(t).where(t.c.processed_at.is_(None))
        return int(self.conn.execute(stmt).scalar_one())

    def cdc(self) -> list[dict[str, Any]]:
        """Change Data Capture subscriptions: state, events, gaps re-read, re-polls."""
        from connector.store.cdc import list_subscriptions

        return [
            {"topic": c.topic, "entity": c.entity, "state": c.state, "events": c.events,
             "gaps": c.gaps, "repolls": c.repolls, "last_change_at": _iso(c.commit_at),
             "detail": c.detail}
            for c in list_subscriptions(self.conn).values()
        ]

    def cdc_change_age(self) -> list[tuple[str, str, float]]:
        """(topic, state, seconds since the commit of the last change applied) per
        subscription that applied one."""
        from connector.store.cdc import list_subscriptions

        now = self.clock()
        return [
            (c.topic, c.state, max((now - c.commit_at).total_seconds(), 0.0))
            for c in list_subscriptions(self.conn).values()
            if c.commit_at is not None
        ]

    # --- dead letters ----------------------------------------------------------------------
    def dead_letters(self, limit: int = DEAD_SHOWN) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters."""
        return [
            {"entity": d.entity, "sf_id": d.sf_id, "code": d.code, "message": d.message,
             "at": _iso(d.created_at)}
            for d in repo.list_dead_letters(self.conn, newest_first=True, limit=limit)
        ]

    def dead_letters_by_kind(self) -> dict[str, int]:
        """Unresolved dead letters by kind."""
        t = DeadLetter.__table__  # type: ignore[attr-defined]
        stmt = select(t.c.kind, func.count()).where(t.c.resolved_at.is_(None)).group_by(t.c.kind)
        return {str(kind): int(n) for kind, n in self.conn.execute(stmt)}

    # --- the change log and its consumers --------------------------------------------------
    def change_log(self) -> dict[str, Any]:
        """The log's newest sequence and how far behind each consumer is."""
        from connector.store.stream import consumer_lag

        return consumer_lag(self.conn)

    def triggers(self) -> list[dict[str, Any]]:
        """Per rule: decisions by outcome, the last one and the last error."""
        from connector.triggers.audit import rule_stats

        return [
            {"rule": rule, **stats, "last_at": _iso(stats.get("last_at"))}
            for rule, stats in sorted(rule_stats(self.conn).items())
        ]

    def firings_by_rule(self) -> dict[str, int]:
        """Trigger firings recorded, by rule."""
        t = TriggerFiring.__table__  # type: ignore[attr-defined]
        stmt = select(t.c.trigger_id, func.count()).group_by(t.c.trigger_id)
        return {str(rule): int(n) for rule, n in self.conn.execute(stmt)}

    def programs(self, segments: Iterable[str] | None) -> dict[str, Any] | None:
        """Members per configured segment, enrolments, steps and points (None without
        programs.yaml)."""
        if segments is None:
            return None
        from connector.programs.views import programs_summary

        return programs_summary(self.conn, segments)

    # --- outbox ----------------------------------------------------------------------------
    def outbox(self) -> dict[str, Any]:
        """Items per status, the oldest pending, conflicts."""
        from connector.outbox.admin import outbox_summary

        return outbox_summary(self.conn)

    def outbox_depth(self) -> dict[str, int]:
        """Outbox items by status (``pending`` always present; from the counts the store
        keeps, ``outbox_count``)."""
        from connector.outbox.admin import status_counts

        return {s: n for s, n in status_counts(self.conn).items() if n or s == "pending"}

    # --- the store itself ------------------------------------------------------------------
    def store_answers(self) -> bool:
        """Whether the store answers a trivial query (for /readyz)."""
        try:
            self.conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True


@contextmanager
def status_reader(
    engine: Engine, *, clock: Callable[[], datetime] = utcnow
) -> Iterator[StatusReader]:
    """A ``StatusReader`` on a read connection of ``engine`` (no write lock taken)."""
    with read_connection(engine) as conn:
        yield StatusReader(conn, clock=clock)


def store_answers(engine: Engine) -> bool:
    """Whether the store can be reached and answers (for /readyz); never raises."""
    try:
        with status_reader(engine) as status:
            return status.store_answers()
    except Exception:
        return False


def store_writer(engine: Engine) -> str | None:
    """Who holds the store's single-writer lock, as it described itself ("prm daemon <pid>
    <since>"), or None when no process writes it now (for ``status`` and the ops page; the
    daemon's /readyz adds whether that holder is this process)."""
    from connector.service.lock import STORE_LOCK
    from connector.store.locks import lock_holder

    try:
        return lock_holder(engine, STORE_LOCK)
    except Exception:
        return None


def read_status(
    engine: Engine,
    spec: MappingSpec,
    *,
    database_url: str,
    segments: Iterable[str] | None = None,
    dead_shown: int = DEAD_SHOWN,
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """The whole status document (``status --json``, the operations page): objects, API
    usage, last run, dead letters, triggers, outbox, change log, programs, pending pushes, and
    who writes the store now."""
    writer = store_writer(engine)
    with status_reader(engine, clock=clock) as s:
        return {
            "database": redact_url(database_url),
            "writer": writer,
            "objects": s.objects(spec),
            "api": s.api(),
            "last_run": s.last_run(),
            "dead_letters": s.dead_letters(dead_shown),
            "triggers": s.triggers(),
            "outbox": s.outbox(),
            "change_log": s.change_log(),
            "programs": s.programs(segments),
            "push_pending": s.push_pending(),
            "cdc": s.cdc(),
        }
