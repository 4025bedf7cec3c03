"""The daemon: receiver always up, hot standby on the store's run lock, and once active the
scheduler and the store writer doing polling, push, outbox, scheduled triggers and reconcile.

SIGTERM (or SIGINT) ends it gracefully: the writer finishes the batch in hand (every batch
commits its effects with its position, invariant 2), the lock is released, exit 0. A second
daemon on the same store serves health and metrics as a standby, and takes over within about
``standby_retry_seconds`` once the active one's lock vanishes (a crash releases it too).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, text

from connector.daemon.http import HttpServer, parse_listen
from connector.daemon.inbox import count_pending
from connector.daemon.metrics import DaemonMetrics
from connector.daemon.push import PushReport, process_pending
from connector.daemon.receiver import ReceiverDeps, create_receiver_app
from connector.daemon.scheduler import Plan, build_scheduler
from connector.daemon.triggers import reload_rules
from connector.daemon.writer import StoreWriter
from connector.errors import ConnectorError, FatalError
from connector.logs import get_logger
from connector.mapping import EntityMapping
from connector.service import (
    STORE_LOCK,
    Runtime,
    Stage,
    pipeline_stages,
    reconcile,
    sync_once,
)
from connector.store import acquire_run_lock, read_connection
from connector.store.bookkeeping import OutboxItem
from connector.sync.apply import apply_rows

__all__ = ["Daemon", "DaemonOptions"]

log = get_logger("connector.daemon")
PRIORITY = ("push", "outbox", "sync", "reconcile")


@dataclass(frozen=True)
class DaemonOptions:
    """Command-line overrides of the daemon: section and how long shutdown may take."""

    listen: str | None = None
    poll_interval: float | None = None
    shutdown_grace: float = 7.0


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
        handlers: dict[str, Callable[[], object]] = {
            "push": self._push,
            "outbox": self._outbox,
            "sync": self._sync,
            "reconcile": self._reconcile,
        }
        handlers.update({kind: run for kind, _, run in self._scheduled})
        self.writer = StoreWriter(
            handlers, (*PRIORITY, *(k for k, _, _ in self._scheduled)), on_done=self._done
        )
        host, port = parse_listen(self.options.listen or self.settings.listen)
        deps = ReceiverDeps(
            engine=rt.engine,
            settings=self.settings,
            metrics=self.metrics,
            organization_id=lambda: self.org_id if self.active else None,
            on_stored=lambda: self._request("push"),
            readiness=self.readiness,
        )
        self.http = HttpServer(create_receiver_app(deps), host, port)

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
        """The /readyz checks: store answers, org answered last time, this daemon is active."""
        try:
            with read_connection(self.rt.engine) as conn:
                conn.execute(text("SELECT 1"))
            store = True
        except Exception:
            store = False
        return {"store": store, "org": self.org_ok, "active": self.active}

    def run(self) -> int:
        """Serve until stopped; returns the exit code (0 after a graceful stop)."""
        self.http.start()
        log.info("daemon.listening", url=self.http.url)
        waiting_logged = False
        try:
            while not self.stop_event.is_set():
                with acquire_run_lock(self.rt.engine, STORE_LOCK, holder=_holder()) as ok:
                    if ok:
                        return self._serve_active()
                if not waiting_logged:
                    log.info("daemon.standby", reason="another process holds the store's lock")
                    waiting_logged = True
                self.stop_event.wait(self.settings.standby_retry_seconds)
            return self.exit_code
        finally:
            self.http.stop(timeout=1.0)
            log.info("daemon.stopped", exit_code=self.exit_code)

    # --- active life ---------------------------------------------------------------------
    def _serve_active(self) -> int:
        self.active = True
        self.metrics.active.set(1)
        log.info("daemon.active")
        if not self._login():
            return self.exit_code
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
            while not self.stop_event.wait(0.5):
                pass
        finally:
            log.info("daemon.stopping", running=self.writer.running)
            scheduler.shutdown(wait=False)
            started = time.monotonic()
            if not self.writer.stop(self.options.shutdown_grace):
                log.warning("daemon.batch_abandoned", job=self.writer.running)
            log.info("daemon.writer_stopped", seconds=round(time.monotonic() - started, 3))
            self.active = False
            self.metrics.active.set(0)
        return self.exit_code

    def _login(self) -> bool:
        delay = 1.0
        while not self.stop_event.is_set():
            try:
                client = self.rt.client()
            except FatalError as err:
                log.error("daemon.login_failed", error=str(err))
                self.exit_code = 1
                return False
            except ConnectorError as err:
                log.warning("daemon.login_retry", error=str(err), in_seconds=delay)
                self.stop_event.wait(delay)
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
        if err is None:
            self.org_ok = True
        elif isinstance(err, ConnectorError) and not isinstance(err, FatalError):
            self.org_ok = False
        if isinstance(err, FatalError):
            log.error("daemon.fatal", job=kind, error=str(err))
            self.exit_code = 1
            self.stop()
        elif status == "ok" and kind in ("sync", "push") and self._outbox_waiting():
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

    def _apply(
        self, conn: Any, entity: EntityMapping, rows: Sequence[dict[str, Any]], cycle_id: str
    ) -> dict[str, bool]:
        res = apply_rows(
            conn,
            entity,
            rows,
            cycle_id=cycle_id,
            source="push",
            integration_user_id=self.rt.client().user_id,
        )
        return {d.sf_id: d.echo for d in res.diffs}

    def _push(self) -> None:
        while True:
            started = time.monotonic()
            report = process_pending(
                self.rt.engine,
                self.rt.spec,
                self.rt.client(),
                apply=self._apply,
                should_stop=lambda: self.writer.stopping,
            )
            if report.changed_entities:
                self._run_stages(None, f"push-{int(time.time() * 1000)}")
            self._observe_push(report, time.monotonic() - started)
            if report.processed + report.failed == 0 or self.writer.stopping:
                return
            with read_connection(self.rt.engine) as conn:
                if count_pending(conn) == report.failed:
                    return

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
                stage.run(self.rt, run_id)

    def _outbox(self) -> None:
        self._run_stages("outbox", f"outbox-{int(time.time() * 1000)}")

    def _reconcile(self) -> None:
        report = reconcile(self.rt, progress=self._progress)
        log.info("daemon.reconcile_done", changes=report.changes)


def _holder() -> str:
    """What `status` and a refused CLI run show about this daemon holding the store."""
    return f"prm daemon {os.getpid()} {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
