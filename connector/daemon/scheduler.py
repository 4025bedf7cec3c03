"""APScheduler 3 jobs that time the daemon's work: each job only requests a kind of work from
the store writer, so a slow cycle never overlaps the next one (and jobs are ``max_instances=1``
and coalescing, so a backlog of missed runs collapses into one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

__all__ = ["JOB_DEFAULTS", "Plan", "build_scheduler", "set_crons"]

JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 30}


@dataclass(frozen=True)
class Plan:
    """When each kind of work is due."""

    poll_interval: float
    outbox_interval: float
    push_retry_interval: float
    reconcile_cron: str | None = None
    # (work kind, 5-field cron) of scheduled triggers, e.g. ("trigger:quarterly-mdf", "0 2 1 * *")
    crons: Sequence[tuple[str, str]] = field(default_factory=tuple)


def build_scheduler(
    plan: Plan, request: Callable[[str], None], *, now: Callable[[], datetime] | None = None
) -> BackgroundScheduler:
    """A scheduler (not started) whose jobs call ``request(kind)``; the first poll is at once."""
    start = (now or (lambda: datetime.now(UTC)))()
    sched = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(2)}, job_defaults=JOB_DEFAULTS, timezone=UTC
    )
    sched.add_job(
        request,
        IntervalTrigger(seconds=plan.poll_interval),
        args=["sync"],
        id="sync",
        next_run_time=start,
    )
    sched.add_job(
        request, IntervalTrigger(seconds=plan.outbox_interval), args=["outbox"], id="outbox"
    )
    sched.add_job(
        request,
        IntervalTrigger(seconds=plan.push_retry_interval),
        args=["push"],
        id="push",
        next_run_time=start,
    )
    if plan.reconcile_cron:
        sched.add_job(
            request,
            CronTrigger.from_crontab(plan.reconcile_cron, timezone=UTC),
            args=["reconcile"],
            id="reconcile",
        )
    set_crons(sched, request, (), plan.crons)
    return sched


def set_crons(
    sched: BackgroundScheduler,
    request: Callable[[str], None],
    old: Iterable[str],
    crons: Sequence[tuple[str, str]],
) -> None:
    """Replace the cron jobs ``old`` (work kinds) of ``sched`` by ``crons``: the scheduled
    rules after the rule environment was reloaded."""
    for kind in old:
        if sched.get_job(kind) is not None:
            sched.remove_job(kind)
    for kind, cron in crons:
        sched.add_job(request, CronTrigger.from_crontab(cron, timezone=UTC), args=[kind], id=kind)
