"""Every HTTP call to Salesforce goes through ``Transport.request``: budget check, call count,
the retry policy, one session refresh on INVALID_SESSION_ID, and exceptions translated once.

simple-salesforce raises on any status >= 300 and drops the response headers with it, so
Retry-After, Sforce-Limit-Info and Sforce-Locator would be lost; this layer sends the requests
itself on the same ``requests.Session`` and URLs as the ``Salesforce`` object it keeps current.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests

from connector.logs import get_logger
from connector.redact import redact_url
from connector.salesforce.auth import Authenticator, Token
from connector.salesforce.budget import BudgetGuard, parse_limit_info, usage_from_limits
from connector.salesforce.errors import (
    ApiUnavailable,
    ErrorAction,
    SalesforceApiError,
    SessionExpired,
    UnconfirmedWrite,
    error_for,
    scrub,
)
from connector.salesforce.retry import BackoffWait, parse_retry_after, retry_policy
from connector.settings import SalesforceSettings

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

__all__ = ["Transport", "error_from_response", "maybe_applied", "translate"]

log = get_logger("connector.salesforce")

# Failures Salesforce reports before doing anything: a request that got one was not applied,
# so even a non-idempotent request may be sent again.
_REJECTED_UNAPPLIED_STATUS = frozenset({401, 420, 429})
_REJECTED_UNAPPLIED_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "INVALID_SESSION_ID"}
)


def maybe_applied(err: SalesforceApiError) -> bool:
    """True if the failed request may have taken effect in the org (timeouts, 5xx, resets)."""
    if getattr(err, "sent", True) is False:
        return False
    return not (err.status in _REJECTED_UNAPPLIED_STATUS or err.code in _REJECTED_UNAPPLIED_CODES)


def _never_sent(err: requests.RequestException) -> bool:
    """The connection was never made, so the request cannot have reached Salesforce."""
    if isinstance(err, requests.ConnectTimeout):
        return True
    text = str(err)
    return isinstance(err, requests.ConnectionError) and any(
        marker in text
        for marker in ("NewConnectionError", "Failed to establish a new connection",
                       "Connection refused", "Name or service not known")
    )


def error_from_response(
    resp: requests.Response, *, query: bool = False, now: float | None = None
) -> SalesforceApiError:
    """Classify a failed response: ``[{"errorCode", "message"}]`` bodies, else the status."""
    code: str | None = None
    message = ""
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        code = body[0].get("errorCode") or body[0].get("statusCode")
        message = str(body[0].get("message") or "")
    elif isinstance(body, Mapping):
        code = body.get("errorCode") or body.get("error")
        message = str(body.get("message") or body.get("error_description") or "")
    if not message:
        message = (resp.text or resp.reason or "")[:500]
    return error_for(
        resp.status_code,
        code,
        message,
        query=query,
        retry_after=parse_retry_after(resp.headers.get("Retry-After"), now=now),
        detail=f"{resp.request.method if resp.request else ''} {redact_url(resp.url)} -> "
        f"{resp.status_code}",
    )


def translate(exc: BaseException, *, query: bool = False) -> SalesforceApiError:
    """Any requests / simple-salesforce exception as one of ours (for code that uses
    ``client.sf`` directly; the transport itself never lets them through)."""
    if isinstance(exc, SalesforceApiError):
        return exc
    # imported here: simple-salesforce (zeep, lxml) is only loaded by code that uses it
    from simple_salesforce.exceptions import SalesforceError

    if isinstance(exc, SalesforceError):
        content: Any = exc.content
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        first = content[0] if isinstance(content, list) and content else content
        code = first.get("errorCode") if isinstance(first, Mapping) else None
        message = str(first.get("message")) if isinstance(first, Mapping) else str(first)
        return error_for(exc.status, code, message, query=query, detail=scrub(str(exc.url)))
    if isinstance(exc, requests.Timeout):
        return ApiUnavailable(f"Salesforce did not answer in time: {type(exc).__name__}")
    if isinstance(exc, requests.RequestException):
        return ApiUnavailable(
            f"Cannot reach Salesforce: {type(exc).__name__}", detail=scrub(str(exc))
        )
    return ApiUnavailable(f"Unexpected error talking to Salesforce: {type(exc).__name__}")


class Transport:
    """Authenticated, counted, budgeted, retried HTTP to one org."""

    def __init__(
        self,
        settings: SalesforceSettings,
        auth: Authenticator,
        token: Token,
        session: requests.Session,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.token = token
        self.session = session
        self.sleep = sleep
        self.clock = clock
        self._calls = 0
        # Several threads (daemon jobs, a fetch-ahead poller) may share one transport: the
        # counter and the session refresh are guarded, so no call goes uncounted and an
        # expired session is refreshed once, not once per thread.
        self._count_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._budget_lock = threading.Lock()
        self.guard = BudgetGuard(settings.api_budget, clock=clock)
        self._sf: Salesforce | None = None

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce object on this session, made on first use (its import is
        heavy and the transport's own calls do not need it)."""
        with self._refresh_lock:
            if self._sf is None:
                from simple_salesforce import Salesforce

                self._sf = Salesforce(
                    instance_url=self.token.instance_url,
                    session_id=self.token.access_token,
                    session=self.session,
                    version=self.settings.api_version,
                )
            return self._sf

    @property
    def calls(self) -> int:
        """Data API requests sent since this transport was built (cumulative, retries counted)."""
        return self._calls

    # --- URLs ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``https://host/services/data/vNN.0/``."""
        return f"https://{self.instance}/services/data/v{self.settings.api_version}/"

    @property
    def instance(self) -> str:
        """The org's host (and port unless 443), as simple-salesforce's ``sf_instance``."""
        parsed = urlparse(self.token.instance_url)
        host = str(parsed.hostname)
        return host if parsed.port in (None, 443) else f"{host}:{parsed.port}"

    def url(self, path: str) -> str:
        """An absolute URL for a path under the data API, or one starting with ``/services``."""
        if path.startswith("https://"):
            return path
        if path.startswith("/"):
            return f"https://{self.instance}{path}"
        return self.base_url + path

    # --- calls --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: bool = False,
        budget: bool = True,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one logical call (retried as the policy allows); raise a classified error.

        ``idempotent`` (default: every method but POST) says whether sending the request twice
        is harmless. A non-idempotent request is retried only after failures that prove it was
        not applied (never connected, 429, row lock, expired session); after a timeout or a
        5xx it raises ``UnconfirmedWrite`` instead, since a retry could duplicate records.
        """
        safe = method.upper() != "POST" if idempotent is None else idempotent
        policy = retry_policy(
            max_attempts=self.settings.max_attempts,
            backoff_max=self.settings.backoff_max_seconds,
            sleep=self.sleep,
        )
        for attempt in policy:
            with attempt:
                try:
                    return self._with_refresh(method, path, query=query, budget=budget, **kwargs)
                except SalesforceApiError as err:
                    if safe or err.action is not ErrorAction.RETRY or not maybe_applied(err):
                        raise
                    raise UnconfirmedWrite(
                        f"Salesforce did not confirm {method.upper()} {path} ({err.message}); "
                        "it may or may not have been applied, so it is not sent again (that "
                        "could duplicate records). Check the org, or create such records by "
                        "upsert on an external id (key: PRM_Key__c), which is safe to replay.",
                        status=err.status,
                        code=err.code,
                        detail=err.detail,
                    ) from None
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """``request`` and decode JSON (None for 204 / empty bodies)."""
        resp = self.request(method, path, **kwargs)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            raise ApiUnavailable(
                f"Salesforce sent a response that is not JSON for {path}",
                status=resp.status_code,
            ) from None

    def _with_refresh(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call; on INVALID_SESSION_ID log in again and resend, as often as it happens.

        A session can expire (or be revoked by an admin, or by a login elsewhere) at any time,
        also right after a refresh: each rejection logs in again, with backoff from the second
        one on. After ``max_attempts`` refreshes in a row the call fails with a retriable
        ``SessionExpired``: the caller pauses and tries again later; nothing is fatal here
        unless the login itself is refused (bad credentials: ``AuthFailed``).
        """
        wait = BackoffWait(1.0, self.settings.backoff_max_seconds)
        refreshes = 0
        while True:
            used = self.token
            try:
                return self._once(method, path, **kwargs)
            except SalesforceApiError as err:
                if err.action is not ErrorAction.REFRESH:
                    raise
                if refreshes >= self.settings.max_attempts:
                    raise SessionExpired(
                        f"Salesforce rejected {refreshes} new sessions in a row; pausing and "
                        "logging in again later. If it goes on, check the integration user's "
                        "session settings and the connected app's policies (IP restrictions, "
                        "revoked access).",
                        status=err.status,
                        code=err.code,
                        action=ErrorAction.REFRESH,
                    ) from None
            if refreshes:
                delay = wait.rng.uniform(0, min(wait.maximum, 2.0 ** (refreshes - 1)))
                log.warning("salesforce.session_rejected_again", refreshes=refreshes,
                            wait_seconds=round(delay, 3))
                self.sleep(delay)
            refreshes += 1
            self.refresh_session(stale=used)

    def refresh_session(self, stale: Token | None = None) -> None:
        """Log in again and hand the new session to simple-salesforce as well.

        ``stale``: the token a failed request used. When another thread has replaced it
        meanwhile, that refresh is used instead of logging in again.
        """
        with self._refresh_lock:
            if stale is not None and self.token is not stale:
                return
            log.info("salesforce.session_refresh", instance=redact_url(self.token.instance_url))
            token = self.auth.refresh(self.token)
            if self._sf is not None:
                self._sf.session_id = token.access_token
                self._sf._generate_headers()
            self.token = token

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token.access_token}",
            "Accept": "application/json",
        }
        headers.update(extra or {})
        return headers

    def _once(
        self,
        method: str,
        path: str,
        *,
        query: bool = False,
        budget: bool = True,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        **kwargs: Any,
    ) -> requests.Response:
        if budget:
            self._check_budget()
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        with self._count_lock:
            self._calls += 1
        try:
            resp = self.session.request(
                method,
                self.url(path),
                headers=self._headers(headers),
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                **kwargs,
            )
        except requests.Timeout as err:
            failure = ApiUnavailable(
                f"Salesforce did not answer within {self.settings.read_timeout:g} s ({path})",
                detail=scrub(str(err)),
            )
            failure.sent = not _never_sent(err)
            raise failure from None
        except requests.RequestException as err:
            failure = ApiUnavailable(
                f"Cannot reach Salesforce at {redact_url(self.token.instance_url)}: "
                f"{type(err).__name__}",
                detail=scrub(str(err)),
            )
            failure.sent = not _never_sent(err)
            raise failure from None
        self.guard.observe(parse_limit_info(resp.headers.get("Sforce-Limit-Info")))
        if resp.status_code >= 300:
            raise error_from_response(resp, query=query, now=self.clock())
        return resp

    def _check_budget(self) -> None:
        with self._budget_lock:  # one limits/ call when several threads find it stale
            if self.guard.needs_refresh():
                resp = self._once("GET", "limits/", budget=False)
                self.guard.refreshed(usage_from_limits(resp.json()))
        self.guard.check()
