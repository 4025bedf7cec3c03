"""Prometheus metrics for one daemon: its own registry, process counters, store-backed gauges.

Counters and the latency histogram live in the process (they restart at zero, as Prometheus
expects); depths, lags and firings are read from the store at scrape time through the status
read model (``connector.service.status``), so they are right after a restart and agree with
`status`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from connector.logs import get_logger
from connector.service.status import StatusReader, status_reader
from connector.store.types import utcnow

__all__ = ["CONTENT_TYPE", "DaemonMetrics", "StoreCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
log = get_logger("connector.daemon.metrics")


class DaemonMetrics:
    """Every metric the daemon exports, registered on a registry of its own."""

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records_synced = Counter(
            "prm_records_synced",
            "Records applied to the store (a change recorded), by entity and source.",
            ["entity", "source"],
            registry=r,
        )
        self.push_received = Counter(
            "prm_push_notifications_received",
            "Push notifications received, by source (outbound, event) and result "
            "(stored, duplicate, rejected).",
            ["source", "result"],
            registry=r,
        )
        self.push_processed = Counter(
            "prm_push_notifications_processed",
            "Stored notifications processed, by outcome (applied, echo, unchanged, missing, "
            "unmapped, invalid).",
            ["outcome"],
            registry=r,
        )
        self.push_latency = Histogram(
            "prm_push_to_writeback_seconds",
            "From storing a push notification to the end of the pipeline run that handled it "
            "(fetch, apply, triggers, outbox dispatch).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cdc_events = Counter(
            "prm_cdc_events",
            "Change Data Capture events applied, by kind (change, own: our write, gap: re-read).",
            ["kind"],
            registry=r,
        )
        self.cdc_repolls = Counter(
            "prm_cdc_repolls",
            "CDC gaps events could not fill (overflow, replay id refused, allocation exceeded): "
            "the object was polled again, by entity.",
            ["entity"],
            registry=r,
        )
        self.cdc_lag = Histogram(
            "prm_cdc_commit_to_store_seconds",
            "From a change's commit in Salesforce to its CDC event applied to the store.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs = Counter(
            "prm_daemon_jobs",
            "Daemon jobs run, by job and status (ok, error, interrupted).",
            ["job", "status"],
            registry=r,
        )
        self.api_calls = Counter(
            "prm_api_calls",
            "Salesforce API requests made by this daemon.",
            registry=r,
        )
        self.api_used = Gauge(
            "prm_api_requests_used",
            "The org's daily API requests used, as last reported by Salesforce.",
            registry=r,
        )
        self.api_remaining = Gauge(
            "prm_api_requests_remaining",
            "The org's daily API requests remaining, as last reported by Salesforce.",
            registry=r,
        )
        self.active = Gauge(
            "prm_daemon_active",
            "1 while this daemon holds the store's run lock, 0 while it waits as standby.",
            registry=r,
        )
        self._api_seen = 0
        if engine is not None:
            r.register(StoreCollector(engine, clock=clock))

    def observe_api(self, calls: int, used: int | None, maximum: int | None) -> None:
        """Record a client's call count (monotonic per client) and the org's usage."""
        if calls > self._api_seen:
            self.api_calls.inc(calls - self._api_seen)
        self._api_seen = calls
        if used is not None:
            self.api_used.set(used)
            if maximum is not None:
                self.api_remaining.set(max(maximum - used, 0))

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """Gauges read from the store at scrape time through the status read model (the numbers
    `status` shows); a failing query drops only its family."""

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # families are dynamic; do not run queries at registration

    def collect(self) -> Iterator[Metric]:
        builds: tuple[Callable[[StatusReader], Metric], ...] = (
            self._cursor_lag,
            self._outbox,
            self._dead_letters,
            self._firings,
            self._push_pending,
            self._cdc,
        )
        for build in builds:
            try:
                with status_reader(self.engine, clock=self.clock) as status:
                    metric = build(status)
            except Exception as err:  # a scrape must not fail because one table is missing
                log.warning("metrics.store_query_failed", family=build.__name__, error=str(err))
                continue
            yield metric

    @staticmethod
    def _cursor_lag(status: StatusReader) -> Metric:
        fam = GaugeMetricFamily(
            "prm_cursor_lag_seconds",
            "Seconds between now and each entity's committed polling cursor.",
            labels=["entity"],
        )
        for entity, seconds in status.cursor_lag().items():
            fam.add_metric([entity], seconds)
        return fam

    @staticmethod
    def _outbox(status: StatusReader) -> Metric:
        fam = GaugeMetricFamily(
            "prm_outbox_depth",
            "Outbox items by status (pending = waiting to be sent).",
            labels=["status"],
        )
        for name, n in sorted(status.outbox_depth().items()):
            fam.add_metric([name], float(n))
        return fam

    @staticmethod
    def _dead_letters(status: StatusReader) -> Metric:
        fam = GaugeMetricFamily(
            "prm_dead_letters", "Unresolved dead letters by kind.", labels=["kind"]
        )
        for kind, n in status.dead_letters_by_kind().items():
            fam.add_metric([kind], float(n))
        return fam

    @staticmethod
    def _firings(status: StatusReader) -> Metric:
        fam = CounterMetricFamily(
            "prm_trigger_firings",
            "Trigger firings recorded in the store, by rule.",
            labels=["rule"],
        )
        for rule, n in status.firings_by_rule().items():
            fam.add_metric([rule], float(n))
        return fam

    @staticmethod
    def _cdc(status: StatusReader) -> Metric:
        fam = GaugeMetricFamily(
            "prm_cdc_last_change_age_seconds",
            "Seconds since the commit of the last change each CDC subscription applied, by "
            "topic and state (live, repolling).",
            labels=["topic", "state"],
        )
        for topic, state, seconds in status.cdc_change_age():
            fam.add_metric([topic, state], seconds)
        return fam

    @staticmethod
    def _push_pending(status: StatusReader) -> Metric:
        return GaugeMetricFamily(
            "prm_push_pending",
            "Stored push notifications not processed yet.",
            value=float(status.push_pending()),
        )
