"""The one retry policy for Salesforce calls: exponential backoff, full jitter, Retry-After.

Only errors classified RETRY are retried here; PAUSE, NARROW, REFRESH and the rest go back to
the caller, which knows what to do about them.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from datetime import UTC

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from connector.logs import get_logger
from connector.salesforce.errors import ErrorAction, SalesforceApiError, scrub

__all__ = ["BackoffWait", "parse_retry_after", "retry_policy"]

log = get_logger("connector.salesforce")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SalesforceApiError) and exc.action is ErrorAction.RETRY


class BackoffWait:
    """Full jitter: a random wait in [0, min(max, base * 2^(n-1))]; Retry-After wins if given.

    A Retry-After longer than ``maximum`` is cut to ``maximum``: attempts stay bounded, and the
    next failure backs off again.
    """

    def __init__(self, base: float, maximum: float, rng: random.Random | None = None) -> None:
        self.base = base
        self.maximum = maximum
        self.rng = rng or random.Random()

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.maximum))
        ceiling = min(self.maximum, self.base * 2 ** (state.attempt_number - 1))
        return self.rng.uniform(0, ceiling)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "salesforce.retry",
        attempt=state.attempt_number,
        wait_seconds=round(wait, 3),
        error=scrub(str(exc)),  # also when no scrubbing log processor is configured
        code=getattr(exc, "code", None),
    )


def retry_policy(
    *,
    max_attempts: int,
    backoff_max: float,
    sleep: Callable[[float], None] = time.sleep,
    base: float = 1.0,
    rng: random.Random | None = None,
) -> Retrying:
    """A tenacity ``Retrying`` for one logical call; re-raises the last error when out of tries."""
    return Retrying(
        retry=retry_if_exception(_retryable),
        wait=BackoffWait(base, backoff_max, rng),
        stop=stop_after_attempt(max_attempts),
        sleep=sleep,
        before_sleep=_log_retry,
        reraise=True,
    )
