"""The error table: every documented code maps to what the caller does next; scrub.

The actions are described in docs/architecture.md ("Errors: what the connector does next").
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import FatalError, RetriableError, SkippableError
from connector.salesforce import (
    ApiLimitExceeded,
    ApiUnavailable,
    AuthFailed,
    BadRequest,
    ErrorAction,
    QueryTimeout,
    RecordRejected,
    SessionExpired,
    classify,
    explain,
    scrub,
)
from connector.salesforce.errors import error_for, register_secret

R, F, P, N, D, S = (
    ErrorAction.RETRY,
    ErrorAction.REFRESH,
    ErrorAction.PAUSE,
    ErrorAction.NARROW,
    ErrorAction.DEAD_LETTER,
    ErrorAction.STOP,
)

# (status, code, message, query, expected action) -- one row per rule of the error table
TABLE = [
    (500, "UNKNOWN_EXCEPTION", "An unexpected error occurred", False, R),
    (503, "SERVER_UNAVAILABLE", "Server unavailable", False, R),
    (502, None, "Bad gateway", False, R),
    (504, None, "", False, R),
    (406, None, "Not acceptable", False, R),
    (420, None, "Enhance your calm", False, R),
    (429, None, "Too many requests", False, R),
    (400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", False, R),
    (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests)", False, R),
    (401, "INVALID_SESSION_ID", "Session expired or invalid", False, F),
    (401, None, "", False, F),
    (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", False, P),
    (400, "QUERY_TIMEOUT", "Your query request was running for too long.", True, N),
    (400, "MALFORMED_QUERY", "unexpected token: FORM", False, D),
    (400, "INVALID_FIELD", "No such column 'Foo__c'", False, D),
    (400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields", False, D),
    (400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", False, D),
    (400, "STRING_TOO_LONG", "Name: data value too large", False, D),
    (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Amount must be positive", False, D),
    (400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "bad value for restricted picklist", False, D),
    (400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", False, D),
    (400, "MALFORMED_ID", "Account ID: id value of incorrect type", False, D),
    (400, "DUPLICATE_VALUE", "duplicate value found", False, D),
    (400, "ENTITY_IS_DELETED", "entity is deleted", False, D),
    (300, None, "multiple records match", False, D),
    (403, None, "insufficient access", False, D),
    (404, "NOT_FOUND", "The requested resource does not exist", False, D),
    (404, None, "", False, D),
    (400, "MALFORMED_QUERY", "unexpected token: FORM", True, S),
    (400, "INVALID_FIELD", "No such column 'Foo__c' on entity 'Account'", True, S),
    (400, "INVALID_TYPE", "sObject type 'Fooo' is not supported", True, S),
    (400, "invalid_grant", "authentication failure", False, S),
    (400, "invalid_client_id", "client identifier invalid", False, S),
]


@pytest.mark.parametrize(("status", "code", "message", "query", "action"), TABLE)
def test_classify_follows_the_table(
    status: int, code: str | None, message: str, query: bool, action: ErrorAction
) -> None:
    """Each documented code/status maps to the documented action."""
    assert classify(status, code, message, query=query) is action


EXCEPTIONS = {
    R: (ApiUnavailable, RetriableError),
    F: (SessionExpired, RetriableError),
    P: (ApiLimitExceeded, RetriableError),
    N: (QueryTimeout, RetriableError),
    D: (RecordRejected, SkippableError),
    S: ((BadRequest, AuthFailed), FatalError),
}


@pytest.mark.parametrize(("status", "code", "message", "query", "action"), TABLE)
def test_error_for_picks_the_exception_family(
    status: int, code: str | None, message: str, query: bool, action: ErrorAction
) -> None:
    """The raised exception's class matches its action, so callers can catch by family."""
    err = error_for(status, code, message, query=query)
    cls, family = EXCEPTIONS[action]
    assert isinstance(err, cls)
    assert isinstance(err, family)
    assert err.action is action and err.status == status and err.code == code


def test_broken_mapping_query_tells_the_admin_to_run_check() -> None:
    """INVALID_FIELD on a query is fatal and points at `prm-connector check`."""
    err = error_for(400, "INVALID_FIELD", "No such column 'Tier__c'", query=True)
    assert isinstance(err, BadRequest)
    assert "prm-connector check" in str(err)
    assert "Tier__c" in str(err)


def test_auth_codes_raise_auth_failed() -> None:
    """OAuth error codes are AuthFailed."""
    assert isinstance(error_for(400, "invalid_grant", "authentication failure"), AuthFailed)


def test_total_requests_pause_has_a_retry_after() -> None:
    """The daily limit pauses; without Retry-After it waits the documented default."""
    err = error_for(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    assert err.retry_after == 900.0
    assert "daily API allowance" in str(err)


def test_explain_scrubs_salesforce_messages() -> None:
    """A session id echoed in Salesforce's message never reaches ours."""
    text = explain(400, "MALFORMED_ID", "bad id near 00D5g000004ABCD!AQ0AQabc.def_ghi")
    assert "AQ0AQabc" not in text
    assert "A record id is malformed" in text


SESSION_IDS = st.builds(
    lambda org, tail: f"00D{org}!{tail}",
    st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=12, max_size=15
    ),
    st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._",
        min_size=20,
        max_size=100,
    ),
)
TOKEN_VALUES = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-!/+", min_size=8, max_size=80
)
KEYS = st.sampled_from(
    [
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "assertion",
        "sessionId",
        "ACCESS_TOKEN",
        "Password",
    ]
)
SEPARATORS = st.sampled_from(["=", ": ", '":"', "='", " = "])
AROUND = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(before=AROUND, secret=SESSION_IDS, after=AROUND)
def test_scrub_removes_every_session_id(before: str, secret: str, after: str) -> None:
    """No generated session id survives scrub, whatever surrounds it."""
    assert secret not in scrub(before + secret + after)


@given(before=AROUND, key=KEYS, sep=SEPARATORS, value=TOKEN_VALUES, after=AROUND)
def test_scrub_removes_keyed_secrets(
    before: str, key: str, sep: str, value: str, after: str
) -> None:
    """password=..., "access_token":"...", client_secret: ... lose their values."""
    text = scrub(f"{before} {key}{sep}{value} {after}")
    assert f"{key}{sep}{value}" not in text
    assert f"{key}{sep}[redacted]" in text


@given(before=AROUND, value=TOKEN_VALUES, after=AROUND)
def test_scrub_removes_bearer_tokens(before: str, value: str, after: str) -> None:
    """Authorization: Bearer <token> loses the token."""
    assert f"Bearer {value}" not in scrub(f"{before} Authorization: Bearer {value} {after}")


def test_scrub_removes_registered_secrets_anywhere() -> None:
    """A configured secret is removed even without a telltale key next to it."""
    register_secret("hunter2-very-private")
    assert scrub("login with hunter2-very-private failed") == "login with [redacted] failed"


def test_scrub_keeps_ordinary_text() -> None:
    """Messages without secrets pass unchanged."""
    text = "Required fields are missing: [Name] on Account 0015g00000XyZabAAB"
    assert scrub(text) == text


def test_log_events_never_carry_the_sql_or_parameters_of_a_database_error() -> None:
    """A database error logged as a value (or as its text) keeps its kind and message, but
    not the statement or the values it quotes."""
    from sqlalchemy.exc import DataError

    from connector.salesforce.errors import scrub_event

    err = DataError("INSERT INTO received_notification (notification_id) VALUES (%(n)s)",
                    {"n": "04l" + "X" * 100 + "secret-ish]value"},
                    Exception("value too long for type character varying(255)"))
    event = scrub_event(None, "error", {"event": "x", "error": err, "text": f"failed: {err}"})
    for value in (event["error"], event["text"]):
        assert "value too long" in value
        assert "INSERT" not in value and "received_notification" not in value
        assert "XXXX" not in value and "secret-ish" not in value
