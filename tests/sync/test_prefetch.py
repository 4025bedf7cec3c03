"""The prefetch thread: order, errors where they happened, bounded look-ahead, clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connector.sync.prefetch import prefetched


def test_items_arrive_in_order_and_all_of_them() -> None:
    """Prefetching changes when items are fetched, never which or in what order."""
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))
    assert list(prefetched([])) == []


def test_an_error_while_fetching_is_raised_after_the_items_before_it() -> None:
    """A fetch error (say, QUERY_TIMEOUT) reaches the consumer at the position it happened."""

    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise TimeoutError("page 3")

    got: list[int] = []
    with pytest.raises(TimeoutError, match="page 3"):
        for item in prefetched(pages()):
            got.append(item)
    assert got == [1, 2]


def test_fetching_runs_in_one_other_thread_at_most_depth_ahead() -> None:
    """While the consumer holds item k, the source has produced at most k + depth + 1 items,
    all of them in one thread that is not the consumer's."""
    produced: list[int] = []
    threads: set[int] = set()
    release = threading.Event()

    def pages() -> Iterator[int]:
        for i in range(10):
            threads.add(threading.get_ident())
            produced.append(i)
            yield i

    for item in prefetched(pages(), depth=2):
        if item == 0:
            release.wait(0.3)  # let the producer run ahead as far as it may
            assert len(produced) <= 0 + 2 + 2
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert produced == list(range(10))


def test_stopping_early_stops_and_closes_the_source_before_returning() -> None:
    """When the consumer fails, the source generator is closed (in its own thread) and the
    fetching thread has ended by the time the error reaches the caller."""
    closed = threading.Event()

    def pages() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = threading.active_count()
    with pytest.raises(RuntimeError):
        for item in prefetched(pages()):
            if item == 3:
                raise RuntimeError("apply failed")
    assert closed.is_set()
    assert threading.active_count() == before
