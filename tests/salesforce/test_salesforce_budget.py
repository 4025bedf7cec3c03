"""Budget parsing, Retry-After parsing, and translating third-party exceptions."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from connector.salesforce import (
    ApiBudgetExhausted,
    ApiUnavailable,
    ApiUsage,
    BadRequest,
    BudgetGuard,
    ErrorAction,
    RecordRejected,
    parse_limit_info,
    parse_retry_after,
    translate,
)
from connector.salesforce.budget import usage_from_limits


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/5000", ApiUsage(18, 5000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample)", ApiUsage(25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_limit_info(header: str | None, expected: ApiUsage | None) -> None:
    """Sforce-Limit-Info's api-usage (not the per-app one) becomes ApiUsage."""
    assert parse_limit_info(header) == expected


def test_usage_from_limits() -> None:
    """DailyApiRequests {Max, Remaining} -> used = Max - Remaining."""
    assert usage_from_limits({"DailyApiRequests": {"Max": 100, "Remaining": 30}}) == ApiUsage(
        70, 100
    )
    assert usage_from_limits({}) is None


def test_guard_raises_at_and_above_the_fraction_only() -> None:
    """79.99% passes, 80% stops with a retry_after."""
    guard = BudgetGuard(0.8, clock=lambda: 0.0, pause_seconds=600)
    guard.observe(ApiUsage(7999, 10000))
    guard.check()
    guard.observe(ApiUsage(8000, 10000))
    with pytest.raises(ApiBudgetExhausted) as info:
        guard.check()
    assert info.value.retry_after == 600
    assert info.value.action is ErrorAction.PAUSE


def test_guard_refreshes_unknown_usage_at_most_every_interval() -> None:
    """Unknown usage asks limits/ once, then not again before refresh_seconds."""
    now = [0.0]
    guard = BudgetGuard(0.8, clock=lambda: now[0], refresh_seconds=300)
    assert guard.needs_refresh()
    guard.refreshed(None)  # limits/ said nothing useful
    now[0] = 299
    assert not guard.needs_refresh()
    now[0] = 300
    assert guard.needs_refresh()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("Sun, 22 Nov 2026 10:00:30 GMT", 30.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delta-seconds or an HTTP date, never negative; garbage is ignored."""
    now = 1795341600.0  # 2026-11-22T10:00:00Z
    assert parse_retry_after(value, now=now) == expected


def test_translate_simple_salesforce_and_requests_errors() -> None:
    """Third-party exceptions become ours, classified by the same table."""
    bad = SalesforceMalformedRequest(
        "https://x/q", 400, "query", [{"errorCode": "INVALID_FIELD", "message": "No such column"}]
    )
    assert isinstance(translate(bad, query=True), BadRequest)
    assert isinstance(translate(bad), RecordRejected)
    missing = SalesforceResourceNotFound("https://x/s", 404, "sobjects", b"not json")
    assert translate(missing).action is ErrorAction.DEAD_LETTER
    assert isinstance(translate(requests.ConnectTimeout("slow")), ApiUnavailable)
    assert translate(requests.ConnectionError("reset")).action is ErrorAction.RETRY
