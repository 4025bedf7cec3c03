"""Query locators: the rest of a query's result, kept for the next ``nextRecordsUrl`` call.

As documented since API 56.0 ("API Query Cursor Limits"): a cursor and its results are kept
for two days after the query ran, and there is no limit on how many are open. A locator is 18
characters starting with ``0r8``; an unknown or expired one answers INVALID_QUERY_LOCATOR.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.emulator.errors import ApiError

__all__ = ["LIFETIME", "Cursor", "Cursors"]

LIFETIME = timedelta(days=2)


@dataclass
class Cursor:
    """The full result of one query and when it ran."""

    records: list[dict[str, Any]]
    total: int
    opened: datetime


class Cursors:
    """Open query cursors by locator, on the org's clock (tests move it to expire them)."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._open: dict[str, Cursor] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, records: list[dict[str, Any]], total: int) -> str:
        """Keep ``records``; returns the locator that finds them."""
        now = self._clock()
        with self._lock:
            # Drop the expired ones here: nothing else would, and results take memory.
            for key in [k for k, c in self._open.items() if now - c.opened > LIFETIME]:
                del self._open[key]
            key = f"0r85g{next(self._ids):013d}"
            self._open[key] = Cursor(records, total, now)
        return key

    def get(self, key: str) -> Cursor:
        """The cursor of ``key``; 400 INVALID_QUERY_LOCATOR once two days have passed."""
        with self._lock:
            cur = self._open.get(key)
        if cur is None or self._clock() - cur.opened > LIFETIME:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return cur

    def __len__(self) -> int:
        return len(self._open)
