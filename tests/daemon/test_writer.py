"""The store writer: one job at a time, requests coalesced, push first, stop between batches;
and the scheduler's jobs never overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connector.daemon.scheduler import Plan, build_scheduler
from connector.daemon.writer import StoreWriter


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.01)
    return predicate()


def test_requests_while_busy_coalesce_and_push_runs_before_sync() -> None:
    """Given a running job, five sync and one push requests queue as one each; push goes first;
    no two jobs ever run at once."""
    ran: list[str] = []
    gate = threading.Event()
    busy = threading.Lock()
    overlaps: list[str] = []

    def job(name: str) -> Callable[[], None]:
        def run() -> None:
            if not busy.acquire(blocking=False):
                overlaps.append(name)
                return
            try:
                ran.append(name)
                if name == "outbox" and len(ran) == 1:
                    gate.wait(10)
            finally:
                busy.release()

        return run

    done: list[tuple[str, str]] = []
    writer = StoreWriter(
        {k: job(k) for k in ("push", "outbox", "sync")},
        ["push", "outbox", "sync"],
        on_done=lambda kind, status, _s, _e: done.append((kind, status)),
    )
    writer.start()
    writer.request("outbox")
    assert _wait(lambda: ran == ["outbox"])
    for _ in range(5):
        writer.request("sync")
    writer.request("push")
    gate.set()
    assert _wait(lambda: len(done) == 3)
    assert ran == ["outbox", "push", "sync"]
    assert overlaps == []
    assert writer.stop(5)


def test_stop_lets_the_batch_in_hand_finish_and_interrupts_before_the_next() -> None:
    """A job checking between batches ends with status interrupted after its current batch."""
    batches: list[int] = []
    started = threading.Event()

    def long_job() -> None:
        for i in range(1000):
            started.set()
            time.sleep(0.02)  # one batch
            batches.append(i)
            writer.check()

    statuses: list[str] = []
    writer = StoreWriter(
        {"sync": long_job}, ["sync"], on_done=lambda _k, status, _s, _e: statuses.append(status)
    )
    writer.start()
    writer.request("sync")
    assert started.wait(5)
    assert writer.stop(5)
    assert statuses == ["interrupted"]
    assert 0 < len(batches) < 1000
    assert batches == list(range(len(batches)))  # no batch was cut short


def test_a_failing_job_is_reported_and_the_writer_goes_on() -> None:
    """An exception in one job is passed to on_done; the next request still runs."""
    seen: list[tuple[str, str, str | None]] = []

    def boom() -> None:
        raise RuntimeError("org unreachable")

    writer = StoreWriter(
        {"sync": boom, "push": lambda: None},
        ["push", "sync"],
        on_done=lambda k, s, _t, e: seen.append((k, s, str(e) if e else None)),
    )
    writer.start()
    writer.request("sync")
    assert _wait(lambda: len(seen) == 1)
    writer.request("push")
    assert _wait(lambda: len(seen) == 2)
    assert seen == [("sync", "error", "org unreachable"), ("push", "ok", None)]
    assert writer.stop(5)


def test_scheduler_jobs_are_single_instance_coalescing_and_cover_the_plan() -> None:
    """Every job is max_instances=1 and coalescing; cron jobs exist for reconcile and rules."""
    sched = build_scheduler(
        Plan(
            poll_interval=600,
            outbox_interval=10,
            push_retry_interval=30,
            reconcile_cron="0 3 * * *",
            crons=[("trigger:quarterly", "0 2 1 */3 *")],
        ),
        lambda _kind: None,
    )
    sched.start(paused=True)
    try:
        jobs = {j.id: j for j in sched.get_jobs()}
        assert set(jobs) == {"sync", "outbox", "push", "reconcile", "trigger:quarterly"}
        for job in jobs.values():
            assert job.max_instances == 1 and job.coalesce is True
        assert str(jobs["reconcile"].trigger).startswith("cron[")
    finally:
        sched.shutdown(wait=False)


def test_a_job_without_a_sign_of_life_shows_as_stalled_and_a_check_is_one() -> None:
    """stalled_for grows while a job neither checks in nor ends; a check resets it; an idle
    writer is never stalled (what /readyz and the lease heartbeat read as wedged)."""
    release, checked, go_on = threading.Event(), threading.Event(), threading.Event()
    writer: StoreWriter

    def job() -> None:
        release.wait(30)
        writer.check()
        checked.set()
        go_on.wait(30)

    writer = StoreWriter({"sync": job}, ["sync"])
    writer.start()
    try:
        assert writer.stalled_for() == 0.0
        writer.request("sync")
        deadline = time.monotonic() + 30
        while writer.stalled_for() < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        before = writer.stalled_for()
        assert before >= 0.3
        time.sleep(0.2)
        release.set()
        assert checked.wait(30)
        assert writer.stalled_for() < before + 0.2
        go_on.set()
    finally:
        go_on.set()
        release.set()
        assert writer.stop(30)
    assert writer.stalled_for() == 0.0
