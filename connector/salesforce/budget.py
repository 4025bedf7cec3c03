"""The API budget: how much of the org's daily allowance is used, and a guard that stops early.

Every REST response carries ``Sforce-Limit-Info: api-usage=used/max``; the guard keeps the last
one. Before each call, if ``used / max >= fraction`` it raises ``ApiBudgetExhausted`` with
``retry_after`` = ``pause_seconds`` (15 minutes by default: the allowance is a rolling 24-hour
window, so some of it frees up continuously; the daemon looks again after the pause). While
usage is unknown, or stale and over budget, the client asks ``limits/`` (at most once every
``refresh_seconds``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.salesforce.errors import ApiBudgetExhausted

__all__ = ["ApiUsage", "BudgetGuard", "parse_limit_info", "usage_from_limits"]

_API_USAGE = re.compile(r"(?:^|[\s;,])api-usage=(\d+)/(\d+)")


@dataclass(frozen=True)
class ApiUsage:
    """API calls used and allowed in the org's rolling 24 hours."""

    used: int
    max: int

    @property
    def fraction(self) -> float:
        """Share of the allowance used (1.0 when the org reports no allowance)."""
        return self.used / self.max if self.max > 0 else 1.0


def parse_limit_info(header: str | None) -> ApiUsage | None:
    """``api-usage=18/5000; per-app-api-usage=...`` -> ApiUsage(18, 5000); None if absent."""
    if not header:
        return None
    m = _API_USAGE.search(header)
    return ApiUsage(int(m.group(1)), int(m.group(2))) if m else None


def usage_from_limits(limits: Mapping[str, Any]) -> ApiUsage | None:
    """ApiUsage from a ``limits/`` response's DailyApiRequests {Max, Remaining}."""
    daily = limits.get("DailyApiRequests")
    if not isinstance(daily, Mapping):
        return None
    try:
        most, remaining = int(daily["Max"]), int(daily["Remaining"])
    except (KeyError, TypeError, ValueError):
        return None
    return ApiUsage(most - remaining, most)


class BudgetGuard:
    """Stops calls once ``fraction`` of the daily allowance is used."""

    def __init__(
        self,
        fraction: float,
        *,
        clock: Callable[[], float] = time.time,
        pause_seconds: float = 900.0,
        refresh_seconds: float = 300.0,
    ) -> None:
        self.fraction = fraction
        self.clock = clock
        self.pause_seconds = pause_seconds
        self.refresh_seconds = refresh_seconds
        self.usage: ApiUsage | None = None
        self._seen_at: float | None = None
        self._refreshed_at: float | None = None

    def observe(self, usage: ApiUsage | None) -> None:
        """Record the usage a response reported."""
        if usage is not None:
            self.usage = usage
            self._seen_at = self.clock()

    def over(self) -> bool:
        """True when the last seen usage is at or past the budget."""
        return self.usage is not None and self.usage.fraction >= self.fraction

    def needs_refresh(self) -> bool:
        """Ask ``limits/`` now? When usage is unknown, or over budget but stale."""
        now = self.clock()
        if self._refreshed_at is not None and now - self._refreshed_at < self.refresh_seconds:
            return False
        if self.usage is None:
            return True
        stale = self._seen_at is None or now - self._seen_at >= self.pause_seconds
        return self.over() and stale

    def refreshed(self, usage: ApiUsage | None) -> None:
        """Record the result of a ``limits/`` call."""
        self._refreshed_at = self.clock()
        self.observe(usage)

    def check(self) -> None:
        """Raise ``ApiBudgetExhausted`` when the budget is used up."""
        if self.usage is not None and self.over():
            pct = round(self.fraction * 100)
            raise ApiBudgetExhausted(
                f"The connector has used {self.usage.used:,} of the org's "
                f"{self.usage.max:,} daily API calls, its api_budget of {pct}%; pausing "
                f"for {self.pause_seconds / 60:g} minutes.",
                retry_after=self.pause_seconds,
            )
