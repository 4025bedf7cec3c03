"""The daemon: receiver always up, hot standby on the store's lease, and once it leads the
scheduler and the store writer doing polling, push, outbox, scheduled triggers and reconcile.

Leadership is the store's lease (invariant 7): taken when free, expired, or its holder's
session is gone; renewed by a heartbeat thread; every write transaction checks its epoch. A
leader that loses it (session cut, frozen past the expiry, store unreachable for a whole
lease) is refused at its next commit or renewal, stops its writer at once and becomes a
standby again; after a lease duration it contends like any standby. A standby survives the
store being unreachable and keeps contending with backoff. A leader whose writer shows no
sign of life for ``daemon.wedged_seconds`` answers /readyz 503 and, with
``daemon.wedged_failover``, stops renewing, so a standby takes over.

SIGTERM (or SIGINT) ends it gracefully, leader or standby: the writer finishes the batch in
hand (every batch commits its effects with its position, invariant 2), the lease is released,
exit 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from connector.daemon.cdc import CdcSubscriber, apply_cdc
from connector.daemon.http import HttpServer, parse_listen
from connector.daemon.inbox import count_pending
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.push import PushReport, run_push
from connector.daemon.receiver import ReceiverDeps, create_receiver_app
from connector.daemon.scheduler import Plan, build_scheduler
from connector.daemon.shedding import ClientLimits
from connector.daemon.triggers import reload_rules
from connector.daemon.writer import StoreWriter
from connector.errors import ConnectorError, FatalError
from connector.logs import get_logger
from connector.service import (
    Runtime,
    Stage,
    apply_pushed,
    pipeline_stages,
    reconcile,
    recorded_run,
    stage_context,
    sync_once,
)
from connector.service.lock import Heartbeat, fenced, holder_text, new_lease, took_over
from connector.store import read_connection
from connector.store.bookkeeping import OutboxItem
from connector.store.cdc import mark_polled
from connector.store.locks import LeaseLost, read_lease
from connector.web import mount_ops

__all__ = ["Daemon", "DaemonOptions"]

log = get_logger("connector.daemon")
PRIORITY = ("push", "cdc", "outbox", "sync", "reconcile")


@dataclass(frozen=True)
class DaemonOptions:
    """Command-line overrides of the daemon: section and how long shutdown may take."""

    listen: str | None = None
    poll_interval: float | None = None
    shutdown_grace: float = 7.0
    # outbound and/or cdc (None: sync.push in connector.yaml)
    push: tuple[str, ...] | None = None


# (rt) -> [(work kind, cron, runner)]: scheduled triggers, supplied by the composition
ScheduledJobs = Callable[[Runtime], Sequence[tuple[str, str, Callable[[], object]]]]


def _no_scheduled(rt: Runtime) -> Sequence[tuple[str, str, Callable[[], object]]]:
    return ()


class Daemon:
    """One daemon process for one store (and its org)."""

    def __init__(
        self,
        rt: Runtime,
        options: DaemonOptions | None = None,
        *,
        scheduled: ScheduledJobs = _no_scheduled,
    ) -> None:
        self.rt = rt
        self.options = options or DaemonOptions()
        self.settings = rt.settings.daemon
        self.stop_event = threading.Event()
        self.active = False
        self.org_id: str | None = None
        self.org_ok = False
        self.exit_code = 0
        self.metrics = DaemonMetrics(rt.engine, clock=rt.clock)
        self.metrics.active.set(0)
        self._scheduled = list(scheduled(rt))
        self._stage_list: list[Stage] | None = None
        self.push_sources = tuple(self.options.push or rt.settings.sync.push)
        self.cdc: CdcSubscriber | None = None
        handlers: dict[str, Callable[[], object]] = {
            "push": self._push,
            "cdc": self._cdc,
            "outbox": self._outbox,
            "sync": self._sync,
            "reconcile": self._reconcile,
        }
        handlers.update({kind: run for kind, _, run in self._scheduled})
        self._handlers = handlers
        self.writer = self._new_writer()
        self.lease = new_lease(rt, holder_text("daemon"))
        self.lease.on_lost(self._lease_lost)
        self._lost = threading.Event()
        self._lease_settings = rt.settings.database.lease
        host, port = parse_listen(self.options.listen or self.settings.listen)
        deps = ReceiverDeps(
            engine=rt.engine,
            settings=self.settings,
            metrics=self.metrics,
            organization_id=lambda: self.org_id if self.active else None,
            on_stored=lambda: self._request("push"),
            readiness=self.readiness,
        )
        self.http = HttpServer(
            mount_ops(create_receiver_app(deps), rt, host), host, port,
            limits=ClientLimits.from_settings(self.settings),
        )

    def _new_writer(self) -> StoreWriter:
        return StoreWriter(
            self._handlers,
            (*PRIORITY, *(k for k, _, _ in self._scheduled)),
            on_done=self._done,
        )

    # --- public --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The receiver's base URL."""
        return self.http.url

    def stop(self) -> None:
        """Ask the daemon to finish the batch in hand and exit (signal-safe)."""
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the daemon gracefully (main thread only)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _s, _f: self.stop())

    def readiness(self) -> Mapping[str, bool]:
        """The /readyz checks: store answers, org answered last time, this daemon leads, its
        lease heartbeat is fresh and its writer is not wedged."""
        lease = self.lease
        epoch = lease.epoch
        try:
            # the lease as the store has it: leadership is what the store says, not what we
            # last heard (a takeover shows here before our next renewal notices it)
            info = read_lease(self.rt.engine, lease.name)
            store = True
        except Exception:
            info, store = None, False
        active = (
            self.active
            and lease.held
            and info is not None
            and (info.epoch, info.holder) == (epoch, lease.holder)
        )
        renew = self._lease_settings.renew_seconds
        heartbeat = active and time.monotonic() - self.lease.renewed <= 2 * renew + 1.0
        wedged = self.writer.stalled_for() > self.settings.wedged_seconds
        return {
            "store": store,
            "org": self.org_ok,
            "active": active,
            "heartbeat": heartbeat,
            "writer": active and not wedged,
        }

    def run(self) -> int:
        """Serve until stopped; returns the exit code (0 after a graceful stop, also after
        losing the lease)."""
        self.http.start()
        log.info("daemon.listening", url=self.http.url)
        waiting_logged = False
        retry = self.settings.standby_retry_seconds
        delay = retry
        # Fenced for the process's life, not only while leading: a job that outlives its
        # leadership (abandoned at shutdown_grace) can never commit once the lease is gone.
        fence = fenced(self.rt, self.lease)
        fence.__enter__()
        try:
            while not self.stop_event.is_set():
                try:
                    got = self.lease.acquire()
                except Exception as err:  # the store is unreachable: keep contending
                    log.warning(
                        "daemon.standby_retry", error=_one_line(err), in_seconds=round(delay, 2)
                    )
                    self.stop_event.wait(delay)
                    delay = min(delay * 2, max(self._lease_settings.duration_seconds, 1.0))
                    continue
                delay = retry
                if got:
                    waiting_logged = False
                    self._serve_active()
                    self._cool_down()
                    continue
                if not waiting_logged:
                    log.info("daemon.standby", reason="another process holds the store's lease")
                    waiting_logged = True
                self.stop_event.wait(retry)
            return self.exit_code
        finally:
            if not self.writer.alive:  # else the abandoned job stays fenced until exit
                fence.__exit__(None, None, None)
            self.http.stop(timeout=1.0)
            log.info("daemon.stopped", exit_code=self.exit_code)

    def _cool_down(self) -> None:
        """After losing the lease: wait for our writer to end (so no job of the old epoch runs
        beside a new one), then one lease duration, so the new leader takes the session we
        released before we contend again."""
        if self.stop_event.is_set():
            return
        while self.writer.alive and not self.stop_event.is_set():
            self.writer.join(0.5)
        self.stop_event.wait(self._lease_settings.duration_seconds)

    def _lease_lost(self, reason: str) -> None:
        log.warning("daemon.lease_lost", reason=reason, epoch=self.lease.epoch)
        self._lost.set()
        self.writer.stop(0)  # handlers stop at their next check; commits are refused anyway

    def _healthy(self) -> bool:
        """Whether the heartbeat may renew: not while wedged, with ``wedged_failover``."""
        stalled = self.writer.stalled_for()
        if stalled > self.settings.wedged_seconds:
            log.warning("daemon.wedged", job=self.writer.running, seconds=round(stalled, 1))
            return not self.settings.wedged_failover
        return True

    # --- active life ---------------------------------------------------------------------
    def _serve_active(self) -> None:
        lease = self.lease
        self._lost.clear()
        heartbeat = Heartbeat(lease, self._lease_settings.renew_seconds, healthy=self._healthy)
        self.writer = self._new_writer()
        previous = lease.took_from
        log.info(
            "daemon.active",
            epoch=lease.epoch,
            previous_holder=previous.holder if previous is not None else None,
        )
        try:
            heartbeat.start()
            try:
                took_over(self.rt, lease)
            except LeaseLost:
                return
            except Exception as err:
                log.warning("daemon.abort_runs_failed", error=_one_line(err))
            self.active = True
            self.metrics.active.set(1)
            if self._login():
                self._lead()
        finally:
            heartbeat.stop()
            self.active = False
            self.metrics.active.set(0)
            if self.writer.alive and not self.writer.join(0):
                log.warning("daemon.batch_abandoned", job=self.writer.running)
            try:
                lease.release()
            except Exception as err:
                log.warning("daemon.release_failed", error=_one_line(err))
            if self._lost.is_set() and not self.stop_event.is_set():
                log.info("daemon.standby", reason="lost the store's lease")

    def _lead(self) -> None:
        if "cdc" in self.push_sources:
            self.cdc = CdcSubscriber(self.rt, self._request)
            self.cdc.start()
        plan = Plan(
            poll_interval=self.options.poll_interval
            or float(self.rt.settings.sync.poll_interval_seconds),
            outbox_interval=self.settings.outbox_interval_seconds,
            push_retry_interval=self.settings.push_retry_seconds,
            reconcile_cron=self.rt.settings.sync.reconcile_cron,
            crons=[(kind, cron) for kind, cron, _ in self._scheduled],
        )
        scheduler = build_scheduler(plan, self._request)
        self.writer.start()
        scheduler.start()
        try:
            while not self.stop_event.is_set() and not self._lost.wait(0.2):
                pass
        finally:
            log.info("daemon.stopping", running=self.writer.running, lost=self._lost.is_set())
            scheduler.shutdown(wait=False)
            if self.cdc is not None:
                self.cdc.stop()
                self.cdc = None
            started = time.monotonic()
            self.writer.stop(self.options.shutdown_grace)
            log.info("daemon.writer_stopped", seconds=round(time.monotonic() - started, 3))

    def _login(self) -> bool:
        delay = 1.0
        while not self.stop_event.is_set() and not self._lost.is_set():
            try:
                client = self.rt.client()
            except FatalError as err:
                log.error("daemon.login_failed", error=str(err))
                self.exit_code = 1
                self.stop()  # bad credentials: no standby would do better; exit 1
                return False
            except ConnectorError as err:
                log.warning("daemon.login_retry", error=str(err), in_seconds=delay)
                self._lost.wait(min(delay, 0.5)) or self.stop_event.wait(delay)
                delay = min(delay * 2, 60.0)
                continue
            self.org_id = client.transport.token.organization_id
            self.org_ok = True
            log.info("daemon.logged_in", organization_id=self.org_id, user_id=client.user_id)
            return True
        return False

    def _request(self, kind: str) -> None:
        if self.active and not self.writer.stopping:
            self.writer.request(kind)

    def _done(self, kind: str, status: str, seconds: float, err: BaseException | None) -> None:
        self.metrics.jobs.labels(kind, status).inc()
        if self.rt.connected:
            client = self.rt.client()
            usage = client.usage
            self.metrics.observe_api(
                client.calls, usage.used if usage else None, usage.max if usage else None
            )
        if isinstance(err, LeaseLost) or self._lost.is_set():
            return  # not the org's fault nor fatal: the daemon steps down (see _lease_lost)
        if err is None:
            self.org_ok = True
        elif isinstance(err, ConnectorError) and not isinstance(err, FatalError):
            self.org_ok = False
        if isinstance(err, FatalError):
            log.error("daemon.fatal", job=kind, error=str(err))
            self.exit_code = 1
            self.stop()
        elif status == "ok" and kind in ("sync", "push", "cdc") and self._outbox_waiting():
            self._request("outbox")

    def _outbox_waiting(self) -> bool:
        t = OutboxItem.__table__  # type: ignore[attr-defined]
        with read_connection(self.rt.engine) as conn:
            n = conn.execute(
                select(func.count())
                .select_from(t)
                .where(
                    t.c.status == "pending",
                    or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= self.rt.clock()),
                )
            ).scalar_one()
        return bool(n)

    # --- work ----------------------------------------------------------------------------
    def _progress(self, _entity: str, _done: int, _total: int | None) -> None:
        self.writer.check()  # called after each committed page: a safe place to stop

    def _sync(self) -> None:
        reload_rules(self.rt)  # a rule file edited: the whole environment, once, logged
        report = sync_once(self.rt, progress=self._progress)
        if self.cdc is not None:  # the poll covered the gaps CDC asked it to re-read
            with self.rt.engine.begin() as conn:
                mark_polled(conn)
        for obj in report.objects:
            n = int(obj.get("changes", 0) or 0)
            if n:
                self.metrics.records_synced.labels(str(obj.get("entity")), "poll").inc(n)
        log.info(
            "daemon.sync_done",
            changes=report.changes,
            api_calls=report.api_calls,
            failures=report.failures or None,
        )

    def _push(self) -> None:
        while True:
            started = time.monotonic()
            _, report = run_push(
                self.rt,
                stages=self._stages,
                should_stop=lambda: self.writer.stopping,
                between_stages=self.writer.check,
            )
            self._observe_push(report, time.monotonic() - started)
            if report.processed + report.failed == 0 or self.writer.stopping:
                return
            with read_connection(self.rt.engine) as conn:
                if count_pending(conn) == report.failed:
                    return

    def _cdc(self) -> None:
        if self.cdc is None:
            return
        started = time.monotonic()
        # Through the service layer, as a push pass: a sync_run row (kind "cdc"), API usage,
        # and echo detection with the integration user.
        with recorded_run(self.rt, "cdc") as run:
            report = apply_cdc(
                self.rt, self.cdc, apply_pushed(self.rt, run),
                should_stop=lambda: self.writer.stopping,
            )
            if report.changed_entities:
                self._run_stages(None, run.run_id)
        own = report.own
        self.metrics.cdc_events.labels("change").inc(report.events - own - report.gaps)
        self.metrics.cdc_events.labels("own").inc(own)
        self.metrics.cdc_events.labels("gap").inc(report.gaps)
        for entity in report.repolls:
            self.metrics.cdc_repolls.labels(entity).inc()
        for lag in report.commit_lag_seconds:
            self.metrics.cdc_lag.observe(lag)
        if report.events or report.repolls:
            log.info(
                "daemon.cdc_done",
                events=report.events,
                own=own or None,
                gaps=report.gaps or None,
                repolls=report.repolls or None,
                queries=report.queries,
                seconds=round(time.monotonic() - started, 4),
            )
        if report.repolls:
            self._request("sync")

    def _observe_push(self, report: PushReport, seconds: float) -> None:
        now = self.rt.clock()
        for received in report.applied_received_at:
            self.metrics.push_latency.observe(max((now - received).total_seconds(), 0.0))
        for outcome, n in report.outcomes.items():
            self.metrics.push_processed.labels(outcome).inc(n)
        for entity, n in report.applied_by_entity.items():
            self.metrics.records_synced.labels(entity, "push").inc(n)
        if report.processed:
            log.info(
                "daemon.push_done",
                outcomes=report.outcomes,
                queries=report.queries,
                seconds=round(seconds, 4),
            )

    def _stages(self) -> list[Stage]:
        # Built once: a stage may load and compile its rules when it is made.
        if self._stage_list is None:
            self._stage_list = list(pipeline_stages(self.rt))
        return self._stage_list

    def _run_stages(self, only: str | None, run_id: str) -> None:
        reload_rules(self.rt)
        for stage in self._stages():
            if only is None or stage.name == only:
                self.writer.check()
                stage.run(stage_context(self.rt, run_id))

    def _outbox(self) -> None:
        self._run_stages("outbox", f"outbox-{int(time.time() * 1000)}")

    def _reconcile(self) -> None:
        report = reconcile(self.rt, progress=self._progress)
        log.info("daemon.reconcile_done", changes=report.changes,
                 repaired=report.stages.get("writeback", {}).get("repaired", 0))


def _one_line(err: BaseException) -> str:
    """An error's first line, short (driver errors carry SQL and parameters after it)."""
    text_ = str(err).strip().splitlines()
    return (text_[0] if text_ else type(err).__name__)[:200]
