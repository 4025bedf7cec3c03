"""Read the next page while the current one is applied: a bounded prefetch thread.

The client's page iterator runs in ONE background thread, at most ``depth`` pages ahead; the
caller applies pages in its own thread. Waiting on the org (and the org's own work) overlaps
with mapping and writing. The caller never uses the client while pages are being fetched: when
it stops early the fetching thread is stopped and joined before control returns, so the
(not thread-safe) session is only ever used by one thread at a time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")
_DONE = object()
_POLL = 0.05  # how often a blocked producer checks whether the consumer has gone


def prefetched(pages: Iterable[T], *, depth: int = 1) -> Iterator[T]:
    """Yield the items of ``pages`` in order, fetched up to ``depth`` ahead in a thread.

    An exception raised while fetching is raised here, at the position it happened.
    """
    slots: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(pages)
        final: tuple[Any, BaseException | None] = (_DONE, None)
        try:
            for item in it:
                if not put((item, None)):
                    return
        except BaseException as err:  # handed to the consumer, raised there
            final = (_DONE, err)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator is closed in the thread that ran it
        put(final)

    worker = threading.Thread(target=produce, name="prm-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, err = slots.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        worker.join()
