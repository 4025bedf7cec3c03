"""SalesforceClient over a mocked org: paging, refresh, retry, collections, budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import structlog
from sf_fakes import (
    API,
    INSTANCE,
    SESSION,
    SESSION2,
    TOKEN_URL,
    USER_ID,
    Sleeps,
    limit_headers,
    limits_body,
    token_body,
)

from connector.errors import FatalError, RetriableError
from connector.salesforce import (
    ApiBudgetExhausted,
    ApiLimitExceeded,
    ApiUnavailable,
    BadRequest,
    ErrorAction,
    QueryTimeout,
    SalesforceClient,
    SessionExpired,
    connect,
)
from connector.settings import SalesforceSettings

QUERY = API + "query/"
COLLECTIONS = API + "composite/sobjects"
EXPIRED = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]


def _page(records: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"totalSize": 5, "done": next_url is None, "records": records}
    if next_url:
        body["nextRecordsUrl"] = next_url
    return body


def _rec(i: int) -> dict[str, Any]:
    return {"attributes": {"type": "Account", "url": f"/x/{i}"}, "Id": f"001{i:015d}"}


# --- connect / bookkeeping ------------------------------------------------------------------


def test_connect_exposes_user_and_instance(client: SalesforceClient, rsps: Any) -> None:
    """connect() logs in once; the client knows its user, instance and simple-salesforce URL."""
    rsps.get(QUERY, json={"totalSize": 7, "done": True, "records": []}, headers=limit_headers())
    assert client.count("SELECT COUNT() FROM Account") == 7
    assert client.user_id == USER_ID
    assert client.instance_url == INSTANCE
    assert client.sf.base_url == API
    assert client.calls == 2  # limits/ then the query: both count


def test_calls_are_counted_and_usage_tracked(client: SalesforceClient, rsps: Any) -> None:
    """Every call is counted; usage follows the last Sforce-Limit-Info header."""
    rsps.get(
        QUERY,
        json={"totalSize": 1, "done": True, "records": []},
        headers=limit_headers(555, 100000),
    )
    client.count("SELECT COUNT() FROM Account")
    assert client.usage is not None and (client.usage.used, client.usage.max) == (555, 100000)
    assert client.calls == 2


# --- paging ---------------------------------------------------------------------------------


def test_query_pages_follow_next_records_url(client: SalesforceClient, rsps: Any) -> None:
    """Pages are yielded one by one across nextRecordsUrl, with the batch size header."""
    rsps.get(
        QUERY,
        json=_page([_rec(1), _rec(2)], "/services/data/v62.0/query/01gXX-2"),
        headers=limit_headers(),
    )
    rsps.get(
        INSTANCE + "/services/data/v62.0/query/01gXX-2",
        json=_page([_rec(3), _rec(4)], "/services/data/v62.0/query/01gXX-4"),
    )
    rsps.get(INSTANCE + "/services/data/v62.0/query/01gXX-4", json=_page([_rec(5)]))
    pages = list(client.query_pages("SELECT Id FROM Account", batch_size=200))
    assert [[r["Id"][-1] for r in p] for p in pages] == [["1", "2"], ["3", "4"], ["5"]]
    first = rsps.calls[2].request
    assert parse_qs(urlsplit(first.url).query)["q"] == ["SELECT Id FROM Account"]
    assert first.headers["Sforce-Query-Options"] == "batchSize=200"
    assert first.headers["Authorization"] == f"Bearer {SESSION}"


def test_query_all_uses_query_all_endpoint(client: SalesforceClient, rsps: Any) -> None:
    """include_deleted=True reads queryAll (soft-deleted rows too)."""
    rsps.get(API + "queryAll/", json=_page([_rec(1)]))
    assert list(client.query_pages("SELECT Id FROM Account", include_deleted=True)) == [[_rec(1)]]


def test_query_timeout_raises_for_the_caller_to_narrow(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """QUERY_TIMEOUT is not retried here: QueryTimeout goes to the poller."""
    rsps.get(QUERY, status=400, json=[{"errorCode": "QUERY_TIMEOUT", "message": "too long"}])
    with pytest.raises(QueryTimeout) as info:
        list(client.query_pages("SELECT Id FROM Account"))
    assert info.value.action is ErrorAction.NARROW
    assert sleeps == []


def test_invalid_field_in_query_is_fatal(client: SalesforceClient, rsps: Any) -> None:
    """A query naming a missing field stops the run with a check hint, after one call."""
    rsps.get(
        QUERY,
        status=400,
        json=[
            {
                "errorCode": "INVALID_FIELD",
                "message": "No such column 'Tier__c' on entity 'Account'",
            }
        ],
    )
    with pytest.raises(BadRequest, match="prm-connector check"):
        list(client.query_pages("SELECT Tier__c FROM Account"))
    assert client.calls == 2


# --- session refresh ------------------------------------------------------------------------


def test_expired_session_is_refreshed_and_the_call_retried_once(
    client: SalesforceClient, rsps: Any
) -> None:
    """401 INVALID_SESSION_ID -> new login -> the same call succeeds with the new session."""
    rsps.get(QUERY, status=401, json=EXPIRED)
    rsps.post(TOKEN_URL, json=token_body(SESSION2))
    rsps.get(QUERY, json={"totalSize": 3, "done": True, "records": []})
    assert client.count("SELECT COUNT() FROM Account") == 3
    auths = [
        c.request.headers.get("Authorization") for c in rsps.calls if "/query" in c.request.url
    ]
    assert auths == [f"Bearer {SESSION}", f"Bearer {SESSION2}"]
    assert client.sf.session_id == SESSION2


def test_sessions_rejected_again_and_again_are_refreshed_with_backoff_then_the_call_succeeds(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """Three 401s in a row (each new session rejected again) -> three logins, backing off
    from the second one on, and the fourth try succeeds: nothing is fatal about it."""
    for _ in range(3):
        rsps.get(QUERY, status=401, json=EXPIRED)
    rsps.post(TOKEN_URL, json=token_body(SESSION2))
    rsps.get(QUERY, json={"totalSize": 2, "done": True, "records": []})
    assert client.count("SELECT COUNT() FROM Account") == 2
    assert len([c for c in rsps.calls if c.request.url.startswith(TOKEN_URL)]) == 1 + 3
    assert len(sleeps) == 2 and all(0 <= s <= 2 for s in sleeps)


def test_sessions_that_keep_expiring_raise_a_retriable_error_not_a_fatal_one(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """Every new session rejected: after max_attempts (4) logins the call fails with a
    SessionExpired that is retriable (the caller pauses and logs in later), never a stop."""
    rsps.get(QUERY, status=401, json=EXPIRED)
    rsps.post(TOKEN_URL, json=token_body(SESSION2))
    with pytest.raises(SessionExpired) as info:
        client.count("SELECT COUNT() FROM Account")
    assert info.value.action is ErrorAction.REFRESH
    assert isinstance(info.value, RetriableError) and not isinstance(info.value, FatalError)
    assert len([c for c in rsps.calls if c.request.url.startswith(TOKEN_URL)]) == 1 + 4
    assert len(sleeps) == 3


# --- retry ----------------------------------------------------------------------------------


def test_retry_after_seconds_is_honoured(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """503 with Retry-After: 7 -> wait exactly 7 s, then succeed."""
    rsps.get(
        QUERY,
        status=503,
        json=[{"errorCode": "SERVER_UNAVAILABLE", "message": "down"}],
        headers={"Retry-After": "7"},
    )
    rsps.get(QUERY, json={"totalSize": 1, "done": True, "records": []})
    assert client.count("SELECT COUNT() FROM Account") == 1
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """429 with an HTTP-date Retry-After waits until that moment (clock injected)."""
    when = datetime.fromtimestamp(1_795_000_005, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    rsps.get(QUERY, status=429, body="slow down", headers={"Retry-After": when})
    rsps.get(QUERY, json={"totalSize": 1, "done": True, "records": []})
    client.count("SELECT COUNT() FROM Account")
    assert sleeps == [5.0]


def test_transient_failures_back_off_then_give_up(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """Without Retry-After: jittered waits under 1, 2, 4 s; after max_attempts (4) it raises."""
    for _ in range(4):
        rsps.get(QUERY, status=500, json=[{"errorCode": "UNKNOWN_EXCEPTION", "message": "x"}])
    with pytest.raises(ApiUnavailable, match="internal error"):
        client.count("SELECT COUNT() FROM Account")
    assert len(sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(sleeps, [1, 2, 4], strict=True))
    assert client.calls == 5


def test_connection_errors_and_timeouts_are_retried(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """Connection reset and read timeout are retried like a 503."""
    rsps.get(QUERY, body=requests.ConnectionError("reset by peer"))
    rsps.get(QUERY, body=requests.ReadTimeout("read timed out"))
    rsps.get(QUERY, json={"totalSize": 2, "done": True, "records": []})
    assert client.count("SELECT COUNT() FROM Account") == 2
    assert len(sleeps) == 2


def test_retry_is_logged_without_secrets(client: SalesforceClient, rsps: Any) -> None:
    """The retry log line carries the scrubbed error, never the session id."""
    rsps.get(
        QUERY,
        status=503,
        headers={"Retry-After": "1"},
        json=[{"errorCode": "SERVER_UNAVAILABLE", "message": f"bad session {SESSION}"}],
    )
    rsps.get(QUERY, json={"totalSize": 1, "done": True, "records": []})
    with structlog.testing.capture_logs() as logs:
        client.count("SELECT COUNT() FROM Account")
    retry = [e for e in logs if e["event"] == "salesforce.retry"]
    assert len(retry) == 1 and retry[0]["wait_seconds"] == 1.0
    assert SESSION not in json.dumps(logs, default=str)


def test_total_requests_limit_pauses_without_retrying(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """TotalRequests Limit exceeded -> ApiLimitExceeded with retry_after, no in-process retry."""
    rsps.get(
        QUERY,
        status=403,
        json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
    )
    with pytest.raises(ApiLimitExceeded) as info:
        client.count("SELECT COUNT() FROM Account")
    assert info.value.retry_after == 900.0
    assert sleeps == []


def test_concurrent_requests_limit_is_retried(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """ConcurrentRequests is a short backoff, then success."""
    rsps.get(
        QUERY,
        status=403,
        json=[
            {
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
                "message": "ConcurrentRequests (Concurrent API Requests)",
            }
        ],
    )
    rsps.get(QUERY, json={"totalSize": 1, "done": True, "records": []})
    assert client.count("SELECT COUNT() FROM Account") == 1
    assert len(sleeps) == 1


# --- budget ---------------------------------------------------------------------------------


def test_budget_guard_stops_at_the_configured_fraction(
    rsps: Any, sf_settings: SalesforceSettings, sleeps: Sleeps
) -> None:
    """api_budget 0.5: calls run until a response reports 50% used, then the guard stops."""
    settings = sf_settings.model_copy(update={"api_budget": 0.5})
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(API + "limits/", json=limits_body(40_000, 100_000))
    rsps.get(
        QUERY,
        json={"totalSize": 1, "done": True, "records": []},
        headers=limit_headers(49_999, 100_000),
    )
    rsps.get(
        QUERY,
        json={"totalSize": 1, "done": True, "records": []},
        headers=limit_headers(50_000, 100_000),
    )
    client = connect(settings, sleep=sleeps, clock=lambda: 1_795_000_000.0)
    client.count("SELECT COUNT() FROM Account")
    client.count("SELECT COUNT() FROM Account")
    with pytest.raises(ApiBudgetExhausted) as info:
        client.count("SELECT COUNT() FROM Account")
    assert info.value.retry_after == 900.0
    assert "50,000 of the org's 100,000" in str(info.value)
    assert client.calls == 3  # the refused call was never sent


def test_budget_guard_refuses_before_any_call_when_limits_say_so(
    rsps: Any, sf_settings: SalesforceSettings, sleeps: Sleeps
) -> None:
    """An org already over budget (per limits/) gets no data call at all."""
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(API + "limits/", json=limits_body(90_000, 100_000))
    client = connect(sf_settings, sleep=sleeps)
    with pytest.raises(ApiBudgetExhausted):
        client.describe("Account")
    assert client.calls == 1


def test_budget_is_rechecked_after_the_pause(
    rsps: Any, sf_settings: SalesforceSettings, sleeps: Sleeps
) -> None:
    """Once the pause has passed, limits/ is asked again and calls resume if it freed up."""
    now = [1_795_000_000.0]
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(API + "limits/", json=limits_body(90_000, 100_000))
    rsps.get(API + "limits/", json=limits_body(70_000, 100_000))
    rsps.get(API + "sobjects/", json={"sobjects": []})
    client = connect(sf_settings, sleep=sleeps, clock=lambda: now[0])
    with pytest.raises(ApiBudgetExhausted):
        client.describe_global()
    now[0] += 901
    assert client.describe_global() == {"sobjects": []}


# --- describe / deleted / limits -----------------------------------------------------------


def test_describe_is_cached(client: SalesforceClient, rsps: Any) -> None:
    """describe() calls Salesforce once per object for the client's life."""
    rsps.get(API + "sobjects/Account/describe/", json={"name": "Account", "fields": []})
    assert client.describe("Account")["name"] == "Account"
    assert client.describe("Account")["name"] == "Account"
    assert client.calls == 2


def test_deleted_parses_records_and_window(client: SalesforceClient, rsps: Any) -> None:
    """deleted() returns (id, deletedDate) pairs and the covered window as datetimes."""
    rsps.get(
        API + "sobjects/Account/deleted/",
        json={
            "deletedRecords": [{"id": "001A", "deletedDate": "2026-11-20T08:00:00.000+0000"}],
            "earliestDateAvailable": "2026-11-07T00:00:00.000+0000",
            "latestDateCovered": "2026-11-22T10:00:00.000+0000",
        },
    )
    got = client.deleted(
        "Account", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 22, 10, tzinfo=UTC)
    )
    assert got.records == [("001A", datetime(2026, 11, 20, 8, tzinfo=UTC))]
    assert got.earliest_date_available == datetime(2026, 11, 7, tzinfo=UTC)
    assert got.latest_date_covered == datetime(2026, 11, 22, 10, tzinfo=UTC)
    query = parse_qs(urlsplit(rsps.calls[-1].request.url).query)
    assert query == {"start": ["2026-11-19T00:00:00+00:00"], "end": ["2026-11-22T10:00:00+00:00"]}


def test_limits_updates_usage(client: SalesforceClient, rsps: Any) -> None:
    """limits() returns the body and refreshes usage from DailyApiRequests."""
    rsps.replace(responses.GET, API + "limits/", json=limits_body(1234, 100000))
    assert client.limits()["DailyApiRequests"]["Max"] == 100000
    assert client.usage is not None and client.usage.used == 1234
    rsps.assert_call_count(API + "limits/", 1)


# --- collections ----------------------------------------------------------------------------


def _ok(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"id": r.get("Id") or f"a0X{i:015d}", "success": True, "errors": []}
        for i, r in enumerate(payload["records"])
    ]


def _sent(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


def test_collection_splits_250_records_into_200_and_50_in_order(
    client: SalesforceClient, rsps: Any
) -> None:
    """250 creates -> two calls of 200 and 50; results keep input order and indexes."""
    rsps.add_callback(
        responses.POST,
        COLLECTIONS,
        callback=lambda req: (200, {}, json.dumps(_ok(json.loads(req.body)))),
    )
    records = [{"Name": f"P{i}"} for i in range(250)]
    results = client.collection("create", "Account", records)
    calls = [c for c in rsps.calls if c.request.url == COLLECTIONS]
    assert [len(_sent(c)["records"]) for c in calls] == [200, 50]
    assert _sent(calls[0])["records"][0] == {"attributes": {"type": "Account"}, "Name": "P0"}
    assert _sent(calls[0])["allOrNone"] is False
    assert [r.index for r in results] == list(range(250))
    assert results[0].id == "a0X000000000000000" and results[200].id == "a0X000000000000000"
    assert all(r.success and r.created and r.action is None for r in results)


def test_only_locked_records_are_retried_in_smaller_batches(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """UNABLE_TO_LOCK_ROW on records 1 and 3 -> those two alone are sent again."""
    lock = {
        "statusCode": "UNABLE_TO_LOCK_ROW",
        "message": "unable to obtain exclusive access",
        "fields": [],
    }
    first = [
        {"id": "001A", "success": True, "errors": []},
        {"id": "001B", "success": False, "errors": [lock]},
        {"id": "001C", "success": True, "errors": []},
        {"id": "001D", "success": False, "errors": [lock]},
    ]
    rsps.patch(COLLECTIONS, json=first)
    rsps.patch(COLLECTIONS, json=[{"id": "001B", "success": True, "errors": []}])
    rsps.patch(COLLECTIONS, json=[{"id": "001D", "success": True, "errors": []}])
    records = [{"Id": f"001{x}", "Partner_Tier__c": "Gold"} for x in "ABCD"]
    results = client.collection("update", "Account", records)
    sent = [
        [r["Id"] for r in _sent(c)["records"]] for c in rsps.calls if c.request.url == COLLECTIONS
    ]
    assert sent == [["001A", "001B", "001C", "001D"], ["001B"], ["001D"]]
    assert [r.success for r in results] == [True] * 4
    assert [r.id for r in results] == ["001A", "001B", "001C", "001D"]
    assert len(sleeps) == 1


def test_dead_letter_codes_are_failed_results_not_exceptions(
    client: SalesforceClient, rsps: Any, sleeps: Sleeps
) -> None:
    """A validation-rule failure comes back as a failed RecordResult marked DEAD_LETTER."""
    rsps.post(
        COLLECTIONS,
        json=[
            {
                "id": None,
                "success": False,
                "errors": [
                    {
                        "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                        "message": "Amount > 0",
                        "fields": ["Amount__c"],
                    }
                ],
            },
            {"id": "a0Y1", "success": True, "errors": []},
        ],
    )
    results = client.collection(
        "create", "Deal_Registration__c", [{"Amount__c": -1}, {"Amount__c": 5}]
    )
    assert results[0].success is False
    assert results[0].action is ErrorAction.DEAD_LETTER
    assert results[0].errors[0].code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[0].errors[0].fields == ["Amount__c"]
    assert results[1].success and results[1].id == "a0Y1"
    assert sleeps == []


def test_upsert_uses_the_external_id_path_and_reports_created(
    client: SalesforceClient, rsps: Any
) -> None:
    """Upsert PATCHes composite/sobjects/{SObject}/{ExternalId}; created comes back."""
    rsps.patch(
        COLLECTIONS + "/Task/PRM_Key__c",
        json=[
            {"id": "00T1", "success": True, "created": True, "errors": []},
            {"id": "00T2", "success": True, "created": False, "errors": []},
        ],
    )
    results = client.collection(
        "upsert",
        "Task",
        [{"PRM_Key__c": "k1"}, {"PRM_Key__c": "k2"}],
        external_id_field="PRM_Key__c",
    )
    assert [r.created for r in results] == [True, False]


def test_delete_sends_ids_as_query_parameter(client: SalesforceClient, rsps: Any) -> None:
    """Delete uses DELETE composite/sobjects?ids=..."""
    rsps.delete(
        COLLECTIONS,
        json=[
            {"id": "001A", "success": True, "errors": []},
            {
                "id": "001B",
                "success": False,
                "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "gone"}],
            },
        ],
    )
    results = client.collection("delete", "Account", [{"Id": "001A"}, {"Id": "001B"}])
    query = parse_qs(urlsplit(rsps.calls[-1].request.url).query)
    assert query == {"ids": ["001A,001B"], "allOrNone": ["false"]}
    assert results[1].action is ErrorAction.DEAD_LETTER
