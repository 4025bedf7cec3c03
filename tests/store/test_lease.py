"""The store's lease and its fence (invariant 7), on SQLite and PostgreSQL: one holder at a
time; a takeover bumps the epoch; a holder that lost the lease cannot commit one more write."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, func, select, text

from connector.store.bookkeeping import SyncState
from connector.store.engine import read_connection
from connector.store.locks import Lease, LeaseLost, install_fence, read_lease

STATE = SyncState.__table__  # type: ignore[attr-defined]


def _write(engine: Engine, sobject: str) -> None:
    with engine.begin() as conn:
        conn.execute(STATE.insert().values(sobject=sobject))


def _states(engine: Engine) -> set[str]:
    with read_connection(engine) as conn:
        return set(conn.execute(select(STATE.c.sobject)).scalars())


def test_one_holder_at_a_time_and_a_takeover_after_the_expiry_bumps_the_epoch(
    engine: Engine,
) -> None:
    """Given a holder whose lease is live, a second contender is refused; once the lease has
    expired (the holder frozen: its session still held) the contender takes it, epoch + 1,
    and the first holder's renewal fails."""
    first = Lease(engine, "store", "prm daemon 1 a", duration=0.5)
    second = Lease(engine, "store", "prm daemon 2 b", duration=5.0)
    assert first.acquire()
    assert first.epoch == 1
    assert not second.acquire()
    info = read_lease(engine, "store")
    assert info is not None and (info.holder, info.epoch) == ("prm daemon 1 a", 1)
    time.sleep(0.6)
    assert second.acquire()
    assert second.epoch == 2
    assert second.took_from is not None and second.took_from.holder == "prm daemon 1 a"
    assert not first.renew()
    assert first.lost is not None and "prm daemon 2 b" in first.lost
    second.release()
    first.release()


def test_a_holder_whose_session_is_gone_is_replaced_at_once(engine: Engine) -> None:
    """A released session (a crashed process) frees the lease before its expiry."""
    first = Lease(engine, "store", "prm sync 1 a", duration=60.0)
    assert first.acquire()
    first._release_session()  # what the kernel or the server does when the process dies
    second = Lease(engine, "store", "prm sync 2 b", duration=60.0)
    assert second.acquire()
    assert second.epoch == 2
    second.release()


def test_the_fence_refuses_every_commit_after_the_takeover_and_nothing_is_written(
    engine: Engine,
) -> None:
    """Given a fenced holder, writes commit while it holds the lease; after a takeover its
    next write transaction raises LeaseLost and leaves no row; reads still work."""
    old = Lease(engine, "store", "prm daemon 1 a", duration=0.3)
    assert old.acquire()
    remove = install_fence(engine, old, idle_timeout=5.0)
    lost: list[str] = []
    old.on_lost(lost.append)
    try:
        _write(engine, "Before")
        time.sleep(0.4)
        new = Lease(engine, "store", "prm daemon 2 b", duration=60.0)
        assert new.acquire()
        with pytest.raises(LeaseLost, match="taken over by 'prm daemon 2 b'"):
            _write(engine, "After")
        with pytest.raises(LeaseLost):
            _write(engine, "AfterAgain")
        assert lost and old.lost == lost[0]
        with engine.connect() as conn:  # a read (no commit) is not refused
            assert conn.execute(select(func.count()).select_from(STATE)).scalar_one() == 1
    finally:
        remove()
    assert _states(engine) == {"Before"}
    new.release()


def test_a_transaction_in_flight_at_the_takeover_commits_before_it_or_not_at_all(
    engine: Engine,
) -> None:
    """The fence and a takeover serialise: a transaction of the old holder open while the
    takeover happens either commits before it (SQLite: the takeover queues for the write
    lock) or is refused whole (PostgreSQL: the takeover committed first); the next one is
    refused either way."""
    old = Lease(engine, "store", "prm daemon 1 a", duration=0.2)
    assert old.acquire()
    remove = install_fence(engine, old, idle_timeout=5.0)
    try:
        time.sleep(0.3)
        new = Lease(engine, "store", "prm daemon 2 b", duration=60.0)
        took = threading.Thread(target=new.acquire)
        committed = True
        try:
            with engine.begin() as conn:
                conn.execute(STATE.insert().values(sobject="InFlight"))
                took.start()
                time.sleep(0.2)  # the takeover runs, or waits for this transaction
        except LeaseLost:
            committed = False
        took.join(30)
        assert new.epoch == 2
        with pytest.raises(LeaseLost):
            _write(engine, "Late")
    finally:
        remove()
    assert _states(engine) == ({"InFlight"} if committed else set())
    new.release()


def test_release_frees_the_lease_for_the_next_holder_at_once(engine: Engine) -> None:
    first = Lease(engine, "store", "prm sync 1 a", duration=60.0)
    assert first.acquire()
    first.release()
    second = Lease(engine, "store", "prm sync 2 b", duration=60.0)
    assert second.acquire()
    assert second.epoch == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM store_lease")).scalar_one() == 1
    second.release()


def test_a_heartbeat_keeps_the_lease_and_stops_renewing_when_the_holder_is_wedged(
    engine: Engine,
) -> None:
    """Renewed every 0.1 s, a 0.5 s lease outlives its duration; once the holder reports
    itself wedged the renewals stop, a contender takes over, and the holder learns it lost."""
    from connector.service.lock import Heartbeat

    lease = Lease(engine, "store", "prm daemon 1 a", duration=0.5)
    assert lease.acquire()
    wedged = threading.Event()
    lost = threading.Event()
    lease.on_lost(lambda _reason: lost.set())
    beat = Heartbeat(lease, 0.1, healthy=lambda: not wedged.is_set())
    beat.start()
    try:
        other = Lease(engine, "store", "prm daemon 2 b", duration=60.0)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert not other.acquire()
            time.sleep(0.1)
        wedged.set()
        deadline = time.monotonic() + 30
        while not other.acquire() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert other.epoch == 2
        assert lost.wait(30)
        assert not lease.held
    finally:
        beat.stop()
        lease.release()
    other.release()


def test_a_fresh_or_released_lease_goes_to_the_contender_holding_the_session(
    engine: Engine,
) -> None:
    """Two contenders race for a lease nobody holds: the one whose session lock is taken by
    the other is refused (it does not take the lease for the other to take it back)."""
    with_session = Lease(engine, "store", "prm sync 1 a", duration=60.0)
    assert with_session._session.take()  # it is between its session and its lease row
    without = Lease(engine, "store", "prm sync 2 b", duration=60.0)
    assert not without.acquire()
    assert with_session.acquire()
    assert with_session.epoch == 1
    with_session.release()
    assert without.acquire()
    assert without.epoch == 2
    without.release()
