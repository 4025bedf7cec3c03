"""Transport safety: no blind retry of a non-idempotent POST; refresh and counters under threads."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import requests
import responses
from sf_fakes import API, SESSION, SESSION2, TOKEN_URL, token_body

from connector.salesforce import SalesforceClient
from connector.salesforce.errors import ErrorAction, UnconfirmedWrite

COLLECTIONS = API + "composite/sobjects"
QUERY = API + "query/"
UNAVAILABLE = [{"errorCode": "SERVER_UNAVAILABLE", "message": "try later"}]
CREATED = [{"id": "a01000000000001AAA", "success": True, "errors": []}]


def _calls_to(rsps: responses.RequestsMock, url: str, method: str) -> int:
    return sum(1 for c in rsps.calls if c.request.url.startswith(url)
               and c.request.method == method)


def test_a_create_that_got_a_5xx_is_not_sent_again(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """POST composite/sobjects -> 503: one call, UnconfirmedWrite (dead letter), no retry."""
    rsps.post(COLLECTIONS, status=503, json=UNAVAILABLE)
    with pytest.raises(UnconfirmedWrite) as caught:
        client.collection("create", "Task", [{"Subject": "Call partner"}])
    assert _calls_to(rsps, COLLECTIONS, "POST") == 1
    assert caught.value.action is ErrorAction.DEAD_LETTER
    assert "may or may not have been applied" in str(caught.value)
    assert "upsert" in str(caught.value)


def test_a_create_that_timed_out_is_not_sent_again(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """A read timeout after sending: the org may have created it, so no second POST."""
    rsps.post(COLLECTIONS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(UnconfirmedWrite):
        client.collection("create", "Task", [{"Subject": "Call partner"}])
    assert _calls_to(rsps, COLLECTIONS, "POST") == 1


def test_a_create_refused_before_processing_is_retried(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """429 and a refused connection prove nothing was applied: the POST is sent again."""
    rsps.post(COLLECTIONS, status=429, json=[{"errorCode": "TOO_MANY", "message": "slow down"}])
    rsps.post(COLLECTIONS, body=requests.ConnectionError(
        "HTTPSConnectionPool: Max retries exceeded (Caused by NewConnectionError: "
        "Failed to establish a new connection: [Errno 111] Connection refused)"))
    rsps.post(COLLECTIONS, json=CREATED)
    results = client.collection("create", "Task", [{"Subject": "Call partner"}])
    assert results[0].success and results[0].id == "a01000000000001AAA"
    assert _calls_to(rsps, COLLECTIONS, "POST") == 3


def test_an_upsert_by_external_id_is_retried_after_a_5xx(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """PATCH upsert replays safely: 503 then success, two calls."""
    url = COLLECTIONS + "/Task/PRM_Key__c"
    rsps.patch(url, status=503, json=UNAVAILABLE)
    rsps.patch(url, json=[{**CREATED[0], "created": True}])
    results = client.collection("upsert", "Task", [{"PRM_Key__c": "k1", "Subject": "x"}],
                                external_id_field="PRM_Key__c")
    assert results[0].created
    assert _calls_to(rsps, url, "PATCH") == 2


def test_an_expired_session_is_refreshed_once_for_many_threads(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """8 threads hit INVALID_SESSION_ID together: one refresh, every call counted once."""
    refreshes: list[int] = []
    seen: list[str] = []
    lock = threading.Lock()

    def token(request: Any) -> tuple[int, dict[str, str], str]:
        with lock:
            refreshes.append(1)
        time.sleep(0.05)  # widen the window in which other threads also see the 401
        return 200, {}, json.dumps(token_body(SESSION2))

    def query(request: Any) -> tuple[int, dict[str, str], str]:
        auth = request.headers["Authorization"]
        with lock:
            seen.append(auth)
        if auth == f"Bearer {SESSION}":
            time.sleep(0.02)
            return 401, {}, json.dumps([{"errorCode": "INVALID_SESSION_ID", "message": "x"}])
        return 200, {}, json.dumps({"totalSize": 7, "done": True, "records": []})

    rsps.add_callback(responses.POST, TOKEN_URL, callback=token)
    rsps.add_callback(responses.GET, QUERY, callback=query)
    results: list[int] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(5):
            got = client.count("SELECT COUNT() FROM Account")
            with lock:
                results.append(got)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [7] * 40
    assert len(refreshes) == 1
    assert client.sf.session_id == SESSION2
    queries = _calls_to(rsps, QUERY, "GET")
    assert queries == len(seen) and queries >= 40
    # Every request but the logins is counted, each exactly once.
    assert client.calls == sum(1 for c in rsps.calls if not c.request.url.startswith(TOKEN_URL))


def test_the_call_counter_loses_nothing_under_threads(
    client: SalesforceClient, rsps: responses.RequestsMock
) -> None:
    """8 threads x 50 calls: client.calls grows by exactly the requests sent (cumulative)."""
    rsps.get(QUERY, json={"totalSize": 1, "done": True, "records": []})
    client.count("SELECT COUNT() FROM Account")  # reads limits/ once, before the race
    before = client.calls

    def work() -> None:
        for _ in range(50):
            client.count("SELECT COUNT() FROM Account")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert client.calls - before == 400
    assert client.calls == len(rsps.calls) - 1  # every request but the login is counted


def test_retry_lines_never_show_the_login_urls_password(
    rsps: responses.RequestsMock, sf_settings: Any, sleeps: Any
) -> None:
    """A login URL written with user:password@: the retry log and the error hide the password."""
    import structlog

    from connector.salesforce import ApiUnavailable, connect

    settings = sf_settings.model_copy(
        update={"login_url": "https://admin:Pa55-in-url@login.example.com", "max_attempts": 2})
    # No mock matches a URL with user-info: responses refuses the connection, as a down
    # login server would, and the connector retries once.
    with structlog.testing.capture_logs() as logs, pytest.raises(ApiUnavailable) as caught:
        connect(settings, sleep=sleeps)
    retry = [e for e in logs if e["event"] == "salesforce.retry"]
    assert len(retry) == 1
    assert "login.example.com" in retry[0]["error"]
    assert "Pa55-in-url" not in json.dumps(logs, default=str)
    assert "Pa55-in-url" not in str(caught.value) + str(caught.value.detail)
