"""The one table of Salesforce errors: what the caller does next, and what to tell an admin.

Every failed response goes through ``error_for``: the error code (or, without one, the HTTP
status) picks an ``ErrorAction`` and a message template; the Salesforce message is scrubbed of
secrets before it is put into ours.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from connector.errors import ConnectorError, FatalError, RetriableError, SkippableError
from connector.redact import register_secret, scrub, scrub_event, without_sql

__all__ = [
    "OUTAGE_CODES",
    "ApiBudgetExhausted",
    "ApiLimitExceeded",
    "ApiUnavailable",
    "AuthFailed",
    "BadRequest",
    "ErrorAction",
    "QueryTimeout",
    "RecordRejected",
    "SalesforceApiError",
    "SessionExpired",
    "UnconfirmedWrite",
    "classify",
    "error_for",
    "explain",
    "is_outage",
    "register_secret",
    "scrub",
    "scrub_event",
    "without_sql",
]


class ErrorAction(enum.Enum):
    """What the caller does next."""

    RETRY = "retry"  # back off and try again now
    REFRESH = "refresh"  # get a new session, then try once more
    PAUSE = "pause"  # stop calling until the daily window frees up
    NARROW = "narrow"  # query a smaller time window
    DEAD_LETTER = "dead_letter"  # give up on this record, carry on
    STOP = "stop"  # fatal: a person must fix credentials or config


@dataclass(frozen=True)
class Rule:
    """One row of the table."""

    action: ErrorAction
    template: str  # may use {message} (scrubbed), {code}, {status}


_CHECK = " Fix the mapping or the org, then run `prm-connector check`."
_RECORD = "Salesforce rejected the record ({code}): {message}"

CODE_RULES: dict[str, Rule] = {
    # transient: try again with backoff
    "UNABLE_TO_LOCK_ROW": Rule(
        ErrorAction.RETRY, "Salesforce could not lock the record (another save held it): {message}"
    ),
    "UNKNOWN_EXCEPTION": Rule(ErrorAction.RETRY, "Salesforce had an internal error: {message}"),
    "SERVER_UNAVAILABLE": Rule(ErrorAction.RETRY, "Salesforce is unavailable: {message}"),
    # a maintenance window (the org is read-only for a while): wait it out, lose nothing
    "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE": Rule(
        ErrorAction.RETRY, "Salesforce is in a maintenance window (read-only): {message}"
    ),
    # sessions
    "INVALID_SESSION_ID": Rule(
        ErrorAction.REFRESH, "The Salesforce session expired or was revoked; logging in again."
    ),
    "QUERY_TIMEOUT": Rule(
        ErrorAction.NARROW, "The query took too long in Salesforce; narrowing its time window."
    ),
    # record level: dead letter, the rest go on
    "MALFORMED_QUERY": Rule(ErrorAction.DEAD_LETTER, _RECORD),
    "INVALID_FIELD": Rule(ErrorAction.DEAD_LETTER, _RECORD),
    "INVALID_TYPE": Rule(ErrorAction.DEAD_LETTER, _RECORD),
    "INVALID_FIELD_FOR_INSERT_UPDATE": Rule(
        ErrorAction.DEAD_LETTER, "Salesforce does not let the connector write that field: {message}"
    ),
    "REQUIRED_FIELD_MISSING": Rule(
        ErrorAction.DEAD_LETTER, "A field Salesforce requires is missing: {message}"
    ),
    "STRING_TOO_LONG": Rule(
        ErrorAction.DEAD_LETTER, "A value is too long for its field: {message}"
    ),
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": Rule(
        ErrorAction.DEAD_LETTER, "A validation rule in the org rejected the record: {message}"
    ),
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": Rule(
        ErrorAction.DEAD_LETTER,
        "A picklist value is not allowed by the org (check `values:` in mapping.yaml): {message}",
    ),
    "INVALID_CROSS_REFERENCE_KEY": Rule(
        ErrorAction.DEAD_LETTER, "A lookup points at a record that does not exist: {message}"
    ),
    "MALFORMED_ID": Rule(ErrorAction.DEAD_LETTER, "A record id is malformed: {message}"),
    "DUPLICATE_VALUE": Rule(
        ErrorAction.DEAD_LETTER, "A unique field already holds that value: {message}"
    ),
    "ENTITY_IS_DELETED": Rule(ErrorAction.DEAD_LETTER, "The record was deleted: {message}"),
    "NOT_FOUND": Rule(ErrorAction.DEAD_LETTER, "Salesforce has no such record: {message}"),
    # credentials: a person must act
    "invalid_grant": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "invalid_client_id": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "invalid_client": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "unsupported_grant_type": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "inactive_user": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "inactive_org": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "INVALID_AUTH_HEADER": Rule(ErrorAction.STOP, "Salesforce login failed: {message}"),
    "API_DISABLED_FOR_ORG": Rule(
        ErrorAction.STOP, "The org or the integration user has no API access: {message}"
    ),
}

#: codes that say the whole org is unavailable, even on one record's result
OUTAGE_CODES = frozenset(
    {"SERVER_UNAVAILABLE", "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE"}
)

#: a broken mapping shows up as these codes on a query: nothing works until it is fixed
QUERY_FATAL_CODES = frozenset({"MALFORMED_QUERY", "INVALID_FIELD", "INVALID_TYPE"})

STATUS_RULES: dict[int, Rule] = {
    300: Rule(ErrorAction.DEAD_LETTER, "Several records match that external id: {message}"),
    401: Rule(ErrorAction.REFRESH, "The Salesforce session expired; logging in again."),
    403: Rule(ErrorAction.DEAD_LETTER, "Salesforce refused the request (permissions?): {message}"),
    404: Rule(ErrorAction.DEAD_LETTER, "Salesforce has no such record or resource: {message}"),
    406: Rule(ErrorAction.RETRY, "Salesforce refused the request for now (406): {message}"),
    420: Rule(ErrorAction.RETRY, "Salesforce is throttling requests (420): {message}"),
    429: Rule(ErrorAction.RETRY, "Salesforce is throttling requests (429): {message}"),
}
_5XX = Rule(ErrorAction.RETRY, "Salesforce is unavailable (HTTP {status}): {message}")
_4XX = Rule(ErrorAction.DEAD_LETTER, "Salesforce rejected the request ({code}): {message}")
_OTHER = Rule(ErrorAction.STOP, "Unexpected Salesforce response (HTTP {status}): {message}")


def _rule(status: int, code: str | None, message: str, query: bool) -> Rule:
    if code == "REQUEST_LIMIT_EXCEEDED":
        if "totalrequests" in message.replace(" ", "").lower():
            return Rule(
                ErrorAction.PAUSE,
                "The org's daily API allowance is used up; pausing until it frees up.",
            )
        return Rule(
            ErrorAction.RETRY, "Too many concurrent Salesforce requests; retrying: {message}"
        )
    if query and code in QUERY_FATAL_CODES:
        return Rule(
            ErrorAction.STOP,
            "Salesforce rejected a query the mapping built ({code}): {message}." + _CHECK,
        )
    if code == "INVALID_TYPE":
        return Rule(ErrorAction.STOP, "Salesforce does not know that object: {message}." + _CHECK)
    if code and code in CODE_RULES:
        return CODE_RULES[code]
    if status in STATUS_RULES:
        return STATUS_RULES[status]
    if status >= 500:
        return _5XX
    if 400 <= status < 500:
        return _4XX
    return _OTHER


def classify(status: int, code: str | None, message: str, *, query: bool = False) -> ErrorAction:
    """What to do about an error: by its code first, else by HTTP status.

    ``query`` marks errors from a SOQL query, where a bad field or object means the mapping is
    broken (STOP) rather than one bad record (DEAD_LETTER).
    """
    return _rule(status, code, message, query).action


def explain(status: int, code: str | None, message: str, *, query: bool = False) -> str:
    """The admin-facing message for an error (secrets scrubbed)."""
    rule = _rule(status, code, message, query)
    return rule.template.format(
        message=scrub(message).strip() or "(no message)", code=code or status, status=status
    )


def is_outage(err: BaseException) -> bool:
    """True for a failure of the org, not of the records in the call: 5xx, timeouts,
    connection errors, throttling, maintenance, sessions that keep expiring.

    Callers pause on these (with backoff) and count no attempt against the records; only
    record-level failures (validation, a row lock on the records sent) count.
    """
    if not isinstance(err, SalesforceApiError):
        return False
    if err.action is ErrorAction.REFRESH:
        return True
    if err.action is not ErrorAction.RETRY:
        return False
    return err.code != "UNABLE_TO_LOCK_ROW"


class SalesforceApiError(ConnectorError):
    """A classified Salesforce failure: ``status``, ``code`` and what to do (``action``)."""

    default_action = ErrorAction.STOP

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        action: ErrorAction | None = None,
        detail: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        ConnectorError.__init__(self, scrub(message), detail=scrub(detail) if detail else None)
        self.status = status
        self.code = code
        self.action = action or self.default_action
        self.retry_after = retry_after
        # False when the request never reached Salesforce (connection refused): safe to resend.
        self.sent = True


class ApiUnavailable(SalesforceApiError, RetriableError):
    """Connection failures, timeouts, 5xx, throttling, row locks: retried with backoff."""

    default_action = ErrorAction.RETRY


class SessionExpired(SalesforceApiError, RetriableError):
    """The session was rejected, again and again after logging in again: pause, log in later.

    Retriable, never fatal: sessions expire whenever the org decides; only a refused login
    (``AuthFailed``) needs a person."""

    default_action = ErrorAction.REFRESH


class ApiLimitExceeded(SalesforceApiError, RetriableError):
    """The org's daily allowance is used up; ``retry_after`` says when to look again."""

    default_action = ErrorAction.PAUSE


class QueryTimeout(SalesforceApiError, RetriableError):
    """QUERY_TIMEOUT: the caller narrows its time window and asks again."""

    default_action = ErrorAction.NARROW


class ApiBudgetExhausted(SalesforceApiError, RetriableError):
    """The connector's own share of the daily allowance (``api_budget``) is used up."""

    default_action = ErrorAction.PAUSE


class AuthFailed(SalesforceApiError, FatalError):
    """Login failed: credentials, connected app or user must be fixed by a person."""

    default_action = ErrorAction.STOP


class RecordRejected(SalesforceApiError, SkippableError):
    """One record (or resource) was rejected: dead-letter it, carry on."""

    default_action = ErrorAction.DEAD_LETTER


class UnconfirmedWrite(SalesforceApiError, SkippableError):
    """A non-idempotent request (a POST create) failed in a way that may have applied it.

    Sending it again could duplicate records, so it is not retried: the caller parks the item
    (dead letter) until a person or a reconcile has looked, or sends it as an upsert by
    external id, which is safe to replay.
    """

    default_action = ErrorAction.DEAD_LETTER


class BadRequest(SalesforceApiError, FatalError):
    """A request that can never succeed as built (broken mapping, unknown object)."""

    default_action = ErrorAction.STOP


_BY_ACTION: dict[ErrorAction, type[SalesforceApiError]] = {
    ErrorAction.RETRY: ApiUnavailable,
    ErrorAction.REFRESH: SessionExpired,
    ErrorAction.PAUSE: ApiLimitExceeded,
    ErrorAction.NARROW: QueryTimeout,
    ErrorAction.DEAD_LETTER: RecordRejected,
    ErrorAction.STOP: BadRequest,
}

#: when Salesforce says the allowance is used up but not when it frees up
DEFAULT_PAUSE_SECONDS = 900.0


def error_for(
    status: int,
    code: str | None,
    message: str,
    *,
    query: bool = False,
    retry_after: float | None = None,
    detail: str | None = None,
) -> SalesforceApiError:
    """The exception for one failed response, chosen by the table."""
    action = classify(status, code, message, query=query)
    cls = _BY_ACTION[action]
    if action is ErrorAction.STOP and code in CODE_RULES and code not in QUERY_FATAL_CODES:
        cls = AuthFailed if code != "API_DISABLED_FOR_ORG" else BadRequest
    if action is ErrorAction.PAUSE and retry_after is None:
        retry_after = DEFAULT_PAUSE_SECONDS
    return cls(
        explain(status, code, message, query=query),
        status=status,
        code=code,
        action=action,
        retry_after=retry_after,
        detail=detail,
    )


# --- secrets: one scrubber in connector.redact (logging uses it without this package) --------
