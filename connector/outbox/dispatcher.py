"""The dispatcher: claim due outbox items, coalesce them per record, write only what changed
with sObject Collections (or Bulk API 2.0 for big groups), and settle each item by its result.

No transaction is open across a call to Salesforce (or to a webhook): each batch is claimed
and leased in one short transaction, sent with none open, and its results recorded in a
second one (see ``queue``), so a slow Salesforce never holds the store's write lock. A crash
between sending and recording leaves the items leased to a dead process: the next dispatch
releases them and sends them again, as updates by Id or upserts by external id, which change
nothing twice.

Failures are told apart by whose they are: an outage of the org (5xx, timeouts, connection
errors, maintenance, sessions that keep expiring) pauses the dispatcher with a doubling pause
and counts no attempt; only a record's own errors count towards ``max_attempts``.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
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
from connector.salesforce.errors import OUTAGE_CODES, ErrorAction, SalesforceApiError, is_outage
from connector.salesforce.results import RecordResult
from connector.settings import OutboxSettings
from connector.store.types import utcnow

__all__ = ["DispatchReport", "Dispatcher", "dispatch"]

log = get_logger("connector.outbox")

#: how long a claim holds its items if its dispatcher vanishes without a trace (another host);
#: on this host a dead claimer's items are released by the next dispatch at once
CLAIM_LEASE = timedelta(minutes=30)


#: this process's incarnation: a restarted process may get the same pid (PID 1 in a container)
_INCARNATION = uuid.uuid4().hex[:8]


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_INCARNATION}:{uuid.uuid4().hex[:8]}"


def _dead_here(holder: str) -> bool:
    """True when ``holder`` was a process on this host that no longer runs."""
    host, pid_text, incarnation, *_ = (*holder.split(":"), "", "")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return incarnation != _INCARNATION  # an earlier process that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
        self.holder = _holder()
        self._paused_for = 0.0  # the outage pause the batch in hand had before it was claimed

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
            for holder in queue.leases(conn, now):
                if _dead_here(holder):
                    n = queue.release(conn, now, holder=holder)
                    log.info("outbox.claims_released", holder=holder, items=n)
            groups = queue.pending_groups(conn, now)
            paused_until = queue.paused_until(conn, now)
        if paused_until is not None:
            # Salesforce was unavailable: the whole dispatcher waits out the pause (new writes
            # too), webhooks aside
            groups = [g for g in groups if g[1] == "notify"]
            report.paused = f"Salesforce is unavailable; paused until {paused_until.isoformat()}"
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
                sent = self._batch(sobject, operation, now, take, bulk, report)
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
        """Claim (and commit), send with no transaction open, record; returns records claimed
        (0 when nothing was due or the dispatch paused)."""
        user_id = self.client.user_id  # connects first, if need be: never inside a transaction
        with self.engine.begin() as conn:
            items = queue.claim(conn, sobject, operation, now, records)
            if not items:
                return 0
            self._paused_for = queue.paused_for(conn, [i.id for i in items])
            queue.lease(conn, items, self.holder, now + CLAIM_LEASE)
            writes = coalesce(items)
            if operation == "delete":
                # nothing to trim: a record we know no Id of was never created (nothing to do)
                unchanged, to_send = deletable(conn, self.spec, writes)
                conflicts: list[Any] = []
            else:
                conflicts, parents = prepare(conn, self.spec, writes, integration_user_id=user_id)
                record_conflicts(conn, conflicts, now)
                unchanged = [w for w in writes if not w.fields]
                to_send = sorted(
                    (w for w in writes if w.fields),
                    key=lambda w: (parents.get(w.record_key, ""),),
                )
        report.conflicts += len(conflicts)
        try:
            results = self._send(sobject, operation, to_send, bulk) if to_send else []
        except SalesforceApiError as err:
            with self.engine.begin() as conn:
                self._settle(conn, unchanged, [], [], now, report)
                carry_on = self._call_failed(conn, err, to_send, now, report)
            return len(writes) if carry_on else 0
        except BaseException:
            with self.engine.begin() as conn:  # stopped midway: the writes are due again
                queue.release(conn, now, item_ids=[i.id for i in items])
            raise
        if bulk:
            report.bulk_records += len(to_send)
        else:
            report.collection_records += len(to_send)
        with self.engine.begin() as conn:
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
            if code in OUTAGE_CODES:  # the org, not this record: no attempt counted
                self._pause_for_outage(conn, code, message, now, report, writes=[write],
                                       whole_org=False)
                continue
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
        conn: Connection,
        err: SalesforceApiError,
        writes: Sequence[RecordWrite],
        now: datetime,
        report: DispatchReport,
    ) -> bool:
        """A whole call failed for the leased ``writes``: settle them; True to carry on."""
        code = err.code or str(err.status)
        if err.action is ErrorAction.STOP:
            queue.release(conn, now, item_ids=[i for w in writes for i in w.item_ids])
            raise err
        if is_outage(err):
            # the org, not these records: hold every due write back, count no attempt
            self._pause_for_outage(conn, code, str(err), now, report, writes=writes,
                                   retry_after=err.retry_after)
            return False
        if err.action in (ErrorAction.PAUSE, ErrorAction.NARROW):
            queue.release(conn, now, item_ids=[i for w in writes for i in w.item_ids])
            report.paused = str(err)
            log.warning("outbox.paused", reason=str(err), retry_after=err.retry_after)
            return False
        for write in writes:
            if err.action is ErrorAction.DEAD_LETTER:
                queue.mark_dead(conn, write, code, str(err), [], now)
                report.dead += 1
            elif queue.retry_later(
                conn, write, code, str(err), now,
                max_attempts=self.settings.max_attempts,
                base_seconds=self.settings.retry_base_seconds,
            ):
                report.dead += 1
            else:
                report.retry_later += 1
        if err.action is ErrorAction.DEAD_LETTER:
            return True
        report.paused = str(err)  # records locked by another save: try again later
        return False

    def _pause_for_outage(
        self,
        conn: Connection,
        code: str,
        message: str,
        now: datetime,
        report: DispatchReport,
        *,
        writes: Sequence[RecordWrite],
        retry_after: float | None = None,
        whole_org: bool = True,
    ) -> None:
        """Hold ``writes`` back while Salesforce is unavailable, with every due write unless
        only one record's result said so: no attempt counted (``queue.defer_for_outage``)."""
        delay = queue.defer_for_outage(
            conn, now, code, message,
            base_seconds=self.settings.retry_base_seconds,
            max_seconds=self.settings.outage_pause_max_seconds,
            retry_after=retry_after,
            item_ids=[i for w in writes for i in w.item_ids],
            all_due=whole_org,
            previous=self._paused_for,
        )
        if whole_org:
            report.paused = f"Salesforce is unavailable; paused for {delay:g} s: {message}"
            log.warning("outbox.paused", reason=message, code=code, resume_in_seconds=delay)
        else:
            report.retry_later += len(writes)

    # --- webhooks -------------------------------------------------------------------------
    def _settle_notified(
        self, conn: Connection, outcomes: Sequence[tuple[RecordWrite, Any]], now: datetime,
        report: DispatchReport,
    ) -> None:
        done: list[tuple[RecordWrite, str | None, dict[str, Any]]] = []
        for write, res in outcomes:
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

    def _notify(
        self, sobject: str, now: datetime, report: DispatchReport, budget: int | None
    ) -> int | None:
        while budget is None or budget > 0:
            take = 50 if budget is None else min(50, budget)
            with self.engine.begin() as conn:
                items = queue.claim(conn, sobject, "notify", now, take)
                if not items:
                    break
                queue.lease(conn, items, self.holder, now + CLAIM_LEASE)
            outcomes = []
            try:
                for write in coalesce(items):  # posted with no transaction open
                    outcomes.append((write, post_signed(
                        write.fields, now=time.time(),
                        timeout=self.settings.notify_timeout_seconds,
                        env=self.env, poster=self.poster,
                    )))
            finally:
                with self.engine.begin() as conn:
                    self._settle_notified(conn, outcomes, now, report)
                    queue.release(conn, now, item_ids=[i.id for i in items])
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
