"""Change Data Capture as the daemon's push source (``sync.push: cdc``).

One subscription per mapped object (``/data/<Object>ChangeEvent``), each on its own thread,
hands the events it receives to the store writer (work kind ``cdc``); events arriving while
the writer is busy join the batch it has not taken yet, up to ``MAX_PENDING``, after which the
subscription stops asking for more until the writer catches up.

``apply_cdc`` (run by the writer) turns events into the push application path: the records
they name are re-read by Id with ``daemon.push.fetch_soql`` and applied with the runner's
``apply`` (``service.apply_pushed``: the push path's page step, source ``push``, echo detection
with the integration user), and the subscription's replay id is
saved in the same transaction (invariant 2): a crash or a SIGKILL resumes after the last
applied event, never skipping one. GAP_* events name their records: those are re-read the
same way. Changes that events cannot describe (GAP_OVERFLOW, a stored replay id refused as
corrupted or past retention, the delivery allocation used up) rewind the object's poll cursor
to the last change seen minus ``sync.cdc_repoll_margin_seconds`` and ask for a poll, with a
warning log line and the reason in `status`; never a silent jump to the newest event.

Our own writes come back as events whose ``changeOrigin`` names our client
(``Sforce-Call-Options: client=prm-connector``): they are not re-read (the next poll applies
them as echoes, which fire nothing), so a large write-back costs no queries here.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from connector.daemon.push import FETCH_SIZE, fetch_soql
from connector.errors import ConnectorError
from connector.logs import get_logger
from connector.mapping import EntityMapping
from connector.salesforce.client import CLIENT_NAME
from connector.store import read_connection
from connector.store.cdc import list_subscriptions, mark_repoll, save_position
from connector.store.journal import get_state, save_state
from connector.sync.context import new_cycle_id

if TYPE_CHECKING:
    from connector.salesforce.pubsub import ChangeEvent, PubSubClient, Subscription
    from connector.service import ApplyRows, Runtime

__all__ = ["CdcReport", "CdcSubscriber", "apply_cdc", "is_own"]

log = get_logger("connector.daemon.cdc")
MAX_PENDING = 2000  # events one subscription may queue for the writer before it waits


def is_own(event: ChangeEvent) -> bool:
    """True for a change our own API calls made (their changeOrigin names our client)."""
    return f"client={CLIENT_NAME}" in event.change_origin


@dataclass
class Work:
    """What one subscription hands to the writer: events up to a replay id, or a gap."""

    topic: str
    entity: EntityMapping
    events: list[ChangeEvent] = field(default_factory=list)
    latest_replay_id: bytes = b""
    gap: str | None = None  # a reason: re-poll the object (replay id refused, allocation)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class CdcReport:
    """What one ``apply_cdc`` pass did."""

    events: int = 0
    own: int = 0
    gaps: int = 0
    repolls: list[str] = field(default_factory=list)
    fetched: int = 0
    queries: int = 0
    changed_entities: set[str] = field(default_factory=set)
    commit_lag_seconds: list[float] = field(default_factory=list)


class CdcSubscriber:
    """The subscriptions of one daemon: started when it becomes active, stopped with it."""

    def __init__(
        self,
        rt: Runtime,
        request: Callable[[str], None],
        *,
        client_factory: Callable[[], PubSubClient] | None = None,
        retry_seconds: float = 5.0,
    ) -> None:
        from connector.salesforce.pubsub import topic_of

        self.rt = rt
        self.request = request
        self.retry_seconds = retry_seconds
        self.topics = {
            topic_of(e.sobject): e for e in rt.spec.entities.values() if e.inbound_fields()
        }
        self._factory = client_factory or self._client
        self._pending: dict[str, Work] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subs: dict[str, Subscription] = {}
        self.client: PubSubClient | None = None
        self.state: dict[str, str] = dict.fromkeys(self.topics, "starting")

    def _client(self) -> PubSubClient:
        from connector.salesforce.pubsub import PubSubClient, Session

        settings = self.rt.settings.salesforce

        def session() -> Session:
            token = self.rt.client().transport.token
            return Session(token.access_token, token.instance_url, token.organization_id)

        return PubSubClient(
            settings.pubsub_endpoint,
            session,
            refresh=lambda: self.rt.client().transport.refresh_session(),
            ca_bundle=settings.ca_bundle,
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Subscribe to every mapped object's channel, each on a thread of its own."""
        self.client = self._factory()
        for topic in self.topics:
            t = threading.Thread(target=self._run, args=(topic,), daemon=True,
                                 name=f"cdc{topic.replace('/', '-')}")
            t.start()
            self._threads.append(t)
        log.info("daemon.cdc_started", topics=sorted(self.topics),
                 endpoint=self.rt.settings.salesforce.pubsub_endpoint)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the subscriptions; work already handed to the writer is its own to finish."""
        self._stop.set()
        with self._lock:
            for sub in self._subs.values():
                sub.cancel()
            for work in self._pending.values():
                work.done.set()
        for t in self._threads:
            t.join(timeout)
        if self.client is not None:
            self.client.close()

    # -- the subscription threads ---------------------------------------------------------
    def _replay_id(self, topic: str) -> bytes | None:
        with read_connection(self.rt.engine) as conn:
            row = list_subscriptions(conn).get(topic)
        return base64.b64decode(row.replay_id) if row and row.replay_id else None

    def _hand_over(self, work: Work, *, wait: bool = False) -> None:
        """Queue ``work`` for the writer. Events join the batch not yet taken (up to
        ``MAX_PENDING``), so a burst is applied in few passes; past that, or for a gap, the
        subscription waits for the writer (its pace is the store's)."""
        while True:
            with self._lock:
                current = self._pending.get(work.topic)
                if current is None:
                    self._pending[work.topic] = target = work
                    break
                if (work.gap is None and current.gap is None
                        and len(current.events) + len(work.events) <= MAX_PENDING):
                    current.events.extend(work.events)
                    current.latest_replay_id = work.latest_replay_id or current.latest_replay_id
                    target = current
                    break
            self.request("cdc")
            while not current.done.wait(1.0):
                if self._stop.is_set():
                    return
        self.request("cdc")
        while wait and not target.done.wait(1.0):
            if self._stop.is_set():
                return

    def _run(self, topic: str) -> None:
        from connector.salesforce.errors import SessionExpired
        from connector.salesforce.pubsub import DeliveryLimitExceeded, ReplayRefused

        entity = self.topics[topic]
        delay = self.retry_seconds
        assert self.client is not None
        while not self._stop.is_set():
            try:
                sub = self.client.subscribe(topic, self._replay_id(topic))
                with self._lock:
                    self._subs[topic] = sub
                self.state[topic] = "live"
                for batch in sub.batches():
                    delay = self.retry_seconds
                    self._hand_over(Work(topic, entity, batch.events, batch.latest_replay_id))
                    if self._stop.is_set():
                        return
                if self._stop.is_set():
                    return
                raise ConnectorError("the Pub/Sub API ended the subscription")
            except ReplayRefused as err:
                self.state[topic] = "repolling"
                self._hand_over(Work(topic, entity, gap=f"replay id refused: {err}"), wait=True)
                continue  # the gap is handled: resubscribe from now on
            except DeliveryLimitExceeded as err:
                if self.state[topic] != "paused":  # one re-poll per outage, not per retry
                    self.state[topic] = "paused"
                    self._hand_over(
                        Work(topic, entity, gap=f"delivery allocation exceeded: {err}"),
                        wait=True,
                    )
                delay = max(delay, 60.0)
            except SessionExpired:
                self.state[topic] = "reconnecting"
                try:
                    self.client.refresh()
                except ConnectorError as err:
                    log.warning("daemon.cdc_login_failed", topic=topic, error=str(err))
            except ConnectorError as err:
                self.state[topic] = "reconnecting"
                log.warning("daemon.cdc_retry", topic=topic, error=str(err), in_seconds=delay)
            except Exception as err:  # grpc internals: never let the thread die silently
                self.state[topic] = "reconnecting"
                log.warning("daemon.cdc_retry", topic=topic, error=repr(err), in_seconds=delay)
            self._stop.wait(delay)
            delay = min(delay * 2, 300.0)

    def take(self) -> list[Work]:
        """The work handed over since the last call (the writer's side)."""
        with self._lock:
            out, self._pending = list(self._pending.values()), {}
        return out


def apply_cdc(
    rt: Runtime,
    subscriber: CdcSubscriber,
    apply: ApplyRows,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> CdcReport:
    """Apply every subscription's handed-over events (the writer's ``cdc`` job)."""
    report = CdcReport()
    margin = timedelta(seconds=rt.settings.sync.cdc_repoll_margin_seconds)
    for work in subscriber.take():
        try:
            if should_stop():
                continue
            _apply_work(rt, work, apply, margin, report)
        finally:
            work.done.set()
    return report


def _apply_work(
    rt: Runtime, work: Work, apply: ApplyRows, margin: timedelta, report: CdcReport
) -> None:
    entity = work.entity
    if work.gap is not None:
        with rt.engine.begin() as conn:
            _repoll(conn, work.topic, entity, work.gap, margin, None, report)
        return
    ids: list[str] = []
    overflow: ChangeEvent | None = None
    gaps = own = 0
    for event in work.events:
        if event.change_type == "GAP_OVERFLOW":
            overflow = event
        elif is_own(event):
            own += 1
        else:
            gaps += event.change_type.startswith("GAP_")
            ids += event.record_ids
    ids = list(dict.fromkeys(ids))
    rows: list[dict[str, Any]] = []
    for start in range(0, len(ids), FETCH_SIZE):
        report.queries += 1
        soql = fetch_soql(entity, ids[start : start + FETCH_SIZE])
        for page in rt.client().query_pages(soql, include_deleted=True):
            rows.extend(page)
    last = work.events[-1] if work.events else None
    replay = last.replay_id if last is not None else work.latest_replay_id
    with rt.engine.begin() as conn:
        changed = apply(conn, entity, rows, new_cycle_id()) if rows else {}
        if replay:
            save_position(
                conn,
                work.topic,
                entity.name,
                replay_id=base64.b64encode(replay).decode(),
                commit_at=last.commit_at if last is not None else None,
                events=len(work.events),
                gaps=gaps,
            )
        if overflow is not None:
            _repoll(conn, work.topic, entity, "GAP_OVERFLOW: a transaction changed more records "
                    "than change events carry", margin, overflow.commit_at, report,
                    keep_replay=base64.b64encode(replay).decode())
    report.events += len(work.events)
    report.own += own
    report.gaps += gaps
    report.fetched += len(rows)
    if any(not echo for echo in changed.values()):
        report.changed_entities.add(entity.name)
    now = rt.clock()
    report.commit_lag_seconds += [
        max((now - e.commit_at).total_seconds(), 0.0) for e in work.events
    ]
    if gaps:
        log.warning("daemon.cdc_gap", topic=work.topic, gap_events=gaps,
                    action="re-read the records the gap events name")


def _repoll(
    conn: Connection,
    topic: str,
    entity: EntityMapping,
    reason: str,
    margin: timedelta,
    commit_at: datetime | None,
    report: CdcReport,
    *,
    keep_replay: str | None = None,
) -> None:
    """Rewind the object's poll cursor to the last change seen minus ``margin``."""
    row = list_subscriptions(conn).get(topic)
    since = commit_at or (row.commit_at if row is not None else None)
    state = get_state(conn, entity.name)
    cursor = state.cursor if state is not None else None
    if since is not None and cursor is not None and since - margin < cursor:
        save_state(conn, entity.name, cursor=since - margin)
    mark_repoll(conn, topic, entity.name, reason, replay_id=keep_replay)
    report.repolls.append(entity.name)
    log.warning(
        "daemon.cdc_repoll",
        topic=topic,
        reason=reason,
        poll_from=(since - margin).isoformat() if since is not None else "the poll cursor",
    )
