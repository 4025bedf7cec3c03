"""The dispatcher: claim due outbox items, coalesce them per record, write only what changed
with sObject Collections (or Bulk API 2.0 for big groups), and settle each item by its result.

One transaction per batch holds the claimed rows (``FOR UPDATE SKIP LOCKED``), the call to
Salesforce and the recorded results, so a crash between sending and recording leaves the
items pending: they are sent again, as updates by Id or upserts by external id, which change
nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from connector.logs import get_logger
from connector.mapping import MappingSpec
from connector.outbox import queue
from connector.outbox.coalesce import RecordWrite, coalesce
from connector.outbox.links import deletable, link_created
from connector.outbox.notify import Poster, post_signed
from connector.outbox.prepare import prepare, record_conflicts
from connector.salesforce import SalesforceClient
from connector.salesforce.client import CollectionOp
from connector.salesforce.errors import ErrorAction, SalesforceApiError
from connector.salesforce.results import RecordResult
from connector.settings import OutboxSettings
from connector.store.types import utcnow

__all__ = ["DispatchReport", "Dispatcher", "dispatch"]

log = get_logger("connector.outbox")


@dataclass
class DispatchReport:
    """What one dispatch did (counts of records unless named otherwise)."""

    written: int = 0  # records Salesforce accepted
    items_done: int = 0  # outbox items settled done (several may coalesce into one record)
    unchanged: int = 0  # records with nothing left to write (Salesforce already holds it)
    dead: int = 0  # records parked in the dead letter
    retry_later: int = 0  # records scheduled for a later dispatch
    conflicts: int = 0
    notified: int = 0
    collection_records: int = 0
    bulk_records: int = 0
    calls: int = 0  # Salesforce API calls this dispatch made
    paused: str | None = None  # why it stopped early (budget, outage); nothing is lost

    def counts(self) -> dict[str, int]:
        """The integer counts, for a run report."""
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}


class _RuntimeLike(Protocol):
    engine: Engine
    spec: MappingSpec
    settings: Any

    def client(self) -> SalesforceClient: ...


class Dispatcher:
    """Sends the outbox to one org; the client is connected only when there is work."""

    def __init__(
        self,
        engine: Engine,
        client: SalesforceClient | Callable[[], SalesforceClient],
        spec: MappingSpec | None,
        settings: OutboxSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        poster: Poster | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.engine = engine
        self._client = client
        self.spec = spec
        self.settings = settings
        self.clock = clock
        self.poster = poster
        self.env = env

    @property
    def client(self) -> SalesforceClient:
        """The Salesforce client (connecting on first use)."""
        if not isinstance(self._client, SalesforceClient) and callable(self._client):
            self._client = self._client()
        return self._client

    def run(self, *, limit: int | None = None) -> DispatchReport:
        """Dispatch every item due now (at most ``limit`` records); returns what happened."""
        report = DispatchReport()
        now = self.clock()
        with self.engine.begin() as conn:
            groups = queue.pending_groups(conn, now)
        if not groups:
            return report
        calls_before: int | None = None
        budget = limit
        # deletes go last: a record created and then left in one cycle is created first
        groups.sort(key=lambda g: g[1] == "delete")
        for sobject, operation, due in groups:
            if budget is not None and budget <= 0:
                break
            if operation == "notify":
                budget = self._notify(sobject, now, report, budget)
                continue
            if calls_before is None:
                calls_before = self.client.calls
            bulk = due >= self.settings.bulk_threshold
            size = self.settings.bulk_job_size if bulk else self.settings.claim_records
            while budget is None or budget > 0:
                take = size if budget is None else min(size, budget)
                try:
                    sent = self._batch(sobject, operation, now, take, bulk, report)
                except SalesforceApiError as err:
                    if not self._call_failed(err, sobject, operation, now, take, report):
                        break
                    sent = 0
                if report.paused or sent == 0:
                    break
                if budget is not None:
                    budget -= sent
            if report.paused:
                break
        if calls_before is not None:
            report.calls = self.client.calls - calls_before
        log.info("outbox.dispatched", **report.counts(), paused=report.paused)
        return report

    # --- one batch ------------------------------------------------------------------------
    def _batch(
        self,
        sobject: str,
        operation: str,
        now: datetime,
        records: int,
        bulk: bool,
        report: DispatchReport,
    ) -> int:
        """Claim, trim, send and settle one batch in one transaction; returns records claimed."""
        with self.engine.begin() as conn:
            items = queue.claim(conn, sobject, operation, now, records)
            if not items:
                return 0
            writes = coalesce(items)
            if operation == "delete":
                # nothing to trim: a record we know no Id of was never created (nothing to do)
                unchanged, to_send = deletable(conn, self.spec, writes)
            else:
                conflicts, parents = prepare(
                    conn, self.spec, writes, integration_user_id=self.client.user_id
                )
                record_conflicts(conn, conflicts, now)
                report.conflicts += len(conflicts)
                unchanged = [w for w in writes if not w.fields]
                to_send = sorted(
                    (w for w in writes if w.fields),
                    key=lambda w: (parents.get(w.record_key, ""),),
                )
            results = self._send(sobject, operation, to_send, bulk) if to_send else []
            if bulk:
                report.bulk_records += len(to_send)
            else:
                report.collection_records += len(to_send)
            self._settle(conn, unchanged, to_send, results, now, report)
            return len(writes)

    def _send(
        self, sobject: str, operation: str, writes: Sequence[RecordWrite], bulk: bool
    ) -> list[RecordResult]:
        op: CollectionOp = operation if operation in ("upsert", "delete") else "update"  # type: ignore[assignment]
        # one call shape per external id field (an object may be keyed by more than one)
        by_ext: dict[str | None, list[int]] = {}
        for i, w in enumerate(writes):
            by_ext.setdefault(w.external_id_field if op == "upsert" else None, []).append(i)
        results: dict[int, RecordResult] = {}
        for ext, idx in by_ext.items():
            payloads = [{"Id": writes[i].sf_id} if op == "delete" else writes[i].payload()
                        for i in idx]
            if bulk:
                got = self.client.bulk_ingest(op, sobject, payloads, external_id_field=ext)
            else:
                got = self.client.collection(op, sobject, payloads, external_id_field=ext)
            results.update(zip(idx, got, strict=True))
        return [results[i] for i in range(len(writes))]

    def _settle(
        self,
        conn: Connection,
        unchanged: Sequence[RecordWrite],
        sent: Sequence[RecordWrite],
        results: Sequence[RecordResult],
        now: datetime,
        report: DispatchReport,
    ) -> None:
        done: list[tuple[RecordWrite, str | None, dict[str, Any]]] = [
            (w, w.sf_id, {}) for w in unchanged
        ]
        report.unchanged += len(unchanged)
        for write, result in zip(sent, results, strict=True):
            if result.success or (write.operation == "delete" and _gone(result)):
                done.append((write, result.id or write.sf_id, dict(write.fields)))
                report.written += 1
                continue
            first = result.errors[0] if result.errors else None
            code = first.code if first else "UNKNOWN_EXCEPTION"
            message = "; ".join(f"{e.code}: {e.message}" for e in result.errors) or code
            if result.action is ErrorAction.RETRY:
                went_dead = queue.retry_later(
                    conn, write, code, message, now,
                    max_attempts=self.settings.max_attempts,
                    base_seconds=self.settings.retry_base_seconds,
                )
                if went_dead:
                    report.dead += 1
                else:
                    report.retry_later += 1
                continue
            fields = sorted({f for e in result.errors for f in e.fields})
            queue.mark_dead(conn, write, code, message, fields, now)
            report.dead += 1
        queue.mark_done(conn, done, now)
        link_created(conn, self.spec, done)
        report.items_done += sum(len(w.items) for w, _, _ in done)

    def _call_failed(
        self,
        err: SalesforceApiError,
        sobject: str,
        operation: str,
        now: datetime,
        records: int,
        report: DispatchReport,
    ) -> bool:
        """A whole call failed (the batch's transaction rolled back): True to carry on."""
        if err.action is ErrorAction.STOP:
            raise err
        if err.action in (ErrorAction.PAUSE, ErrorAction.REFRESH, ErrorAction.NARROW):
            report.paused = str(err)
            log.warning("outbox.paused", reason=str(err), retry_after=err.retry_after)
            return False
        with self.engine.begin() as conn:
            writes = coalesce(queue.claim(conn, sobject, operation, now, records))
            for write in writes:
                if err.action is ErrorAction.DEAD_LETTER:
                    queue.mark_dead(conn, write, err.code or str(err.status), str(err), [], now)
                    report.dead += 1
                elif queue.retry_later(
                    conn, write, err.code or str(err.status), str(err), now,
                    max_attempts=self.settings.max_attempts,
                    base_seconds=self.settings.retry_base_seconds,
                ):
                    report.dead += 1
                else:
                    report.retry_later += 1
        if err.action is ErrorAction.DEAD_LETTER:
            return True
        report.paused = str(err)  # Salesforce is unavailable: try again on the next dispatch
        return False

    # --- webhooks -------------------------------------------------------------------------
    def _notify(
        self, sobject: str, now: datetime, report: DispatchReport, budget: int | None
    ) -> int | None:
        while budget is None or budget > 0:
            take = 50 if budget is None else min(50, budget)
            with self.engine.begin() as conn:
                items = queue.claim(conn, sobject, "notify", now, take)
                if not items:
                    break
                done: list[tuple[RecordWrite, str | None, dict[str, Any]]] = []
                for write in coalesce(items):
                    res = post_signed(
                        write.fields, now=time.time(),
                        timeout=self.settings.notify_timeout_seconds,
                        env=self.env, poster=self.poster,
                    )
                    if res.ok:
                        done.append((write, None, {}))
                        report.notified += 1
                    elif res.retry:
                        if queue.retry_later(
                            conn, write, res.code, res.message, now,
                            max_attempts=self.settings.max_attempts,
                            base_seconds=self.settings.retry_base_seconds,
                        ):
                            report.dead += 1
                        else:
                            report.retry_later += 1
                    else:
                        queue.mark_dead(conn, write, res.code, res.message, [], now)
                        report.dead += 1
                queue.mark_done(conn, done, now)
                report.items_done += len(done)
            if budget is not None:
                budget -= len(items)
        return budget


def dispatch(
    source: _RuntimeLike | tuple[Engine, Any, MappingSpec | None, Any],
    *,
    limit: int | None = None,
    clock: Callable[[], datetime] = utcnow,
    poster: Poster | None = None,
) -> DispatchReport:
    """Dispatch the outbox of a Runtime, or of ``(engine, client, spec, settings)``.

    ``client`` may be a SalesforceClient or a function returning one (called only when there
    is something to send); ``settings`` is the whole Settings or its OutboxSettings.
    """
    if isinstance(source, tuple):
        engine, client, spec, settings = source
    else:
        engine, client, spec, settings = source.engine, source.client, source.spec, source.settings
    outbox = settings if isinstance(settings, OutboxSettings) else settings.outbox
    return Dispatcher(engine, client, spec, outbox, clock=clock, poster=poster).run(limit=limit)


def _gone(result: RecordResult) -> bool:
    """A delete whose record is already deleted (or was never there) has done its work."""
    return bool(result.errors) and all(
        e.code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND")
        for e in result.errors)
