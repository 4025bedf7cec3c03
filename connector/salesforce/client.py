"""``SalesforceClient``: queries, describes, deletes and sObject Collections for one org.

Built by ``connect``; every call goes through one ``Transport`` (budget, count, retry, refresh).
Bulk API 2.0 lives in ``bulk.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import requests

from connector.logs import get_logger
from connector.redact import redact_url
from connector.salesforce import bulk
from connector.salesforce.auth import Authenticator, Token
from connector.salesforce.budget import ApiUsage, usage_from_limits
from connector.salesforce.errors import ApiUnavailable, ErrorAction
from connector.salesforce.results import DeletedResult, RecordError, RecordResult, parse_sf_datetime
from connector.salesforce.retry import BackoffWait, retry_policy
from connector.salesforce.transport import Transport
from connector.settings import SalesforceSettings

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

__all__ = ["CLIENT_NAME", "COLLECTION_SIZE", "CollectionOp", "SalesforceClient", "connect"]

log = get_logger("connector.salesforce")

CollectionOp = Literal["create", "update", "upsert", "delete"]
COLLECTION_SIZE = 200
# Sent on every call as ``Sforce-Call-Options: client=...``: Salesforce names it in the
# changeOrigin of the change events our writes cause, so CDC recognises our own writes.
CLIENT_NAME = "prm-connector"


class PinnedSession(requests.Session):
    """A session whose own ``verify`` (the configured CA bundle) beats the environment.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override ``Session.verify`` on every
    request; a connector pointed at My Domain with a private CA (or at the emulator) must not
    silently switch trust stores because a shell exported one of them.
    """

    def merge_environment_settings(  # type: ignore[override]
        self, url: str | None, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        if verify is None and self.verify is not True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def connect(
    settings: SalesforceSettings,
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> SalesforceClient:
    """Log in with the configured OAuth flow and return a ready client."""
    session = session or PinnedSession()
    session.headers["Sforce-Call-Options"] = f"client={CLIENT_NAME}"
    if settings.ca_bundle is not None:
        session.verify = str(settings.ca_bundle)
    auth = Authenticator(settings, session, clock=clock)
    token = _login_with_retry(auth, settings, sleep)
    transport = Transport(settings, auth, token, session, sleep=sleep, clock=clock)
    log.info("salesforce.connected", instance=redact_url(token.instance_url), user_id=token.user_id)
    return SalesforceClient(transport)


def _login_with_retry(
    auth: Authenticator, settings: SalesforceSettings, sleep: Callable[[float], None]
) -> Token:
    for attempt in retry_policy(
        max_attempts=settings.max_attempts, backoff_max=settings.backoff_max_seconds, sleep=sleep
    ):
        with attempt:
            return auth.login()
    raise AssertionError("unreachable")  # pragma: no cover


class SalesforceClient:
    """The connector's only door to Salesforce."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._describes: dict[str, dict[str, Any]] = {}

    # --- bookkeeping --------------------------------------------------------------------
    @property
    def calls(self) -> int:
        """Data API requests made by this client, retries included (logins are not counted)."""
        return self.transport.calls

    @property
    def usage(self) -> ApiUsage | None:
        """The org's usage from the last Sforce-Limit-Info (or limits/) seen."""
        return self.transport.guard.usage

    @property
    def user_id(self) -> str:
        """The integration user's id."""
        return self.transport.token.user_id

    @property
    def instance_url(self) -> str:
        """The org's instance URL."""
        return self.transport.token.instance_url

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce object, kept on the current session."""
        return self.transport.sf

    # --- reading ------------------------------------------------------------------------
    def query_pages(
        self, soql: str, *, include_deleted: bool = False, batch_size: int = 2000
    ) -> Iterator[list[dict[str, Any]]]:
        """Raw REST records, page by page, following nextRecordsUrl."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
        endpoint = "queryAll/" if include_deleted else "query/"
        page = self.transport.json("GET", endpoint, params={"q": soql}, headers=headers, query=True)
        while True:
            yield list(page.get("records") or [])
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.transport.json("GET", next_url, headers=headers, query=True)

    def count(self, soql: str) -> int:
        """The totalSize of a ``SELECT COUNT() ...`` query."""
        page = self.transport.json("GET", "query/", params={"q": soql}, query=True)
        return int(page.get("totalSize", 0))

    def describe(self, sobject: str) -> dict[str, Any]:
        """``sobjects/X/describe`` (cached for the client's life)."""
        if sobject not in self._describes:
            self._describes[sobject] = self.transport.json("GET", f"sobjects/{sobject}/describe/")
        return self._describes[sobject]

    def describe_global(self) -> dict[str, Any]:
        """``sobjects/``: every object in the org."""
        result: dict[str, Any] = self.transport.json("GET", "sobjects/")
        return result

    def deleted(self, sobject: str, start: datetime, end: datetime) -> DeletedResult:
        """Records deleted between start and end (Salesforce keeps about 15 days)."""
        body = self.transport.json(
            "GET",
            f"sobjects/{sobject}/deleted/",
            params={"start": _iso(start), "end": _iso(end)},
        )
        records = [
            (str(r["id"]), parse_sf_datetime(r["deletedDate"]) or end)
            for r in body.get("deletedRecords") or []
        ]
        return DeletedResult(
            records=records,
            earliest_date_available=parse_sf_datetime(body.get("earliestDateAvailable")),
            latest_date_covered=parse_sf_datetime(body.get("latestDateCovered")),
        )

    def limits(self) -> dict[str, Any]:
        """``limits/``; also refreshes the budget guard."""
        body: dict[str, Any] = self.transport.json("GET", "limits/", budget=False)
        self.transport.guard.refreshed(usage_from_limits(body))
        return body

    # --- writing ------------------------------------------------------------------------
    def collection(
        self,
        op: CollectionOp,
        sobject: str,
        records: Sequence[dict[str, Any]],
        *,
        external_id_field: str | None = None,
        all_or_none: bool = False,
    ) -> list[RecordResult]:
        """sObject Collections in 200-record calls; results in input order.

        Records failing with a retryable error (UNABLE_TO_LOCK_ROW) are sent again, alone,
        in batches half the size, up to ``max_attempts`` rounds with backoff between them.
        """
        if op == "upsert" and not external_id_field:
            raise ValueError("upsert needs external_id_field")
        results: dict[int, RecordResult] = {}
        pending = list(range(len(records)))
        size = COLLECTION_SIZE
        settings = self.transport.settings
        wait = BackoffWait(1.0, settings.backoff_max_seconds)
        for round_no in range(1, settings.max_attempts + 1):
            for start in range(0, len(pending), size):
                chunk = pending[start : start + size]
                got = self._collection_call(
                    op, sobject, [records[i] for i in chunk], external_id_field, all_or_none
                )
                for i, result in zip(chunk, got, strict=True):
                    results[i] = _reindex(result, i)
            pending = [
                i for i in pending if results[i].action is ErrorAction.RETRY and not all_or_none
            ]
            if not pending or round_no == settings.max_attempts:
                break
            size = max(1, min(size, len(pending)) // 2)
            delay = wait.rng.uniform(0, min(wait.maximum, 2 ** (round_no - 1)))
            log.warning("salesforce.collection_retry", records=len(pending), wait_seconds=delay)
            self.transport.sleep(delay)
        return [results[i] for i in range(len(records))]

    def _collection_call(
        self,
        op: CollectionOp,
        sobject: str,
        records: list[dict[str, Any]],
        external_id_field: str | None,
        all_or_none: bool,
    ) -> list[RecordResult]:
        if op == "delete":
            ids = ",".join(str(r["Id"]) for r in records)
            body = self.transport.json(
                "DELETE",
                "composite/sobjects",
                params={"ids": ids, "allOrNone": str(all_or_none).lower()},
            )
        else:
            payload = {
                "allOrNone": all_or_none,
                "records": [{"attributes": {"type": sobject}, **r} for r in records],
            }
            method, path = {
                "create": ("POST", "composite/sobjects"),
                "update": ("PATCH", "composite/sobjects"),
                "upsert": ("PATCH", f"composite/sobjects/{sobject}/{external_id_field}"),
            }[op]
            body = self.transport.json(method, path, json_body=payload)
        rows = body or []
        if len(rows) != len(records):
            raise ApiUnavailable(
                f"Salesforce returned {len(rows)} results for {len(records)} records"
            )
        return [_result(i, row, op) for i, row in enumerate(rows)]

    # --- Bulk API 2.0 -------------------------------------------------------------------
    def start_bulk_query(self, soql: str, *, include_deleted: bool = False) -> bulk.QueryJob:
        """Create a Bulk API 2.0 query job now; read it later with ``bulk_query(job=...)``."""
        return bulk.start_query(self.transport, self.describe, soql, include_deleted)

    def bulk_query(
        self, soql: str, *, include_deleted: bool = False, job: bulk.QueryJob | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Bulk API 2.0 query: pages of rows typed like REST rows (see ``bulk.py``); ``job``
        is the one ``start_bulk_query`` created for ``soql``, if any."""
        return bulk.query_pages(
            self.transport, self.describe, soql, include_deleted, job=job
        )

    def bulk_ingest(
        self,
        op: CollectionOp,
        sobject: str,
        records: Sequence[dict[str, Any]],
        *,
        external_id_field: str | None = None,
    ) -> list[RecordResult]:
        """Bulk API 2.0 ingest job; results in input order."""
        return bulk.ingest(self.transport, op, sobject, records, external_id_field)


def _result(index: int, row: dict[str, Any], op: str) -> RecordResult:
    errors = [
        RecordError(
            code=str(e.get("statusCode") or e.get("errorCode") or "UNKNOWN_EXCEPTION"),
            message=str(e.get("message") or ""),
            fields=list(e.get("fields") or []),
        )
        for e in row.get("errors") or []
    ]
    if row.get("success"):
        created = bool(row.get("created", op == "create"))
        return RecordResult(index=index, id=row.get("id"), success=True, created=created)
    return RecordResult.failed(index, row.get("id"), errors)


def _reindex(result: RecordResult, index: int) -> RecordResult:
    return RecordResult(
        index=index,
        id=result.id,
        success=result.success,
        created=result.created,
        errors=result.errors,
        action=result.action,
    )


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
