"""Bulk API 1.0 (``/services/async/NN.0/job``): JSON, CSV and XML jobs, as the v1 guide has
them: simple-salesforce's ``sf.bulk`` (JSON), salesforce-bulk and tap-salesforce (XML job
requests, CSV batches). The CSV and XML formats live in ``bulk1wire``.

Authentication is the ``X-SFDC-Session`` header (the OAuth access token), not a Bearer header.
Errors come back as ``{"exceptionCode": ..., "exceptionMessage": ...}``. Batches are processed
when they are added (the add answers ``Queued``; the next look says ``Completed``). Query
results follow Bulk 1.0's JSON: a list of result ids, then each result a list of records, with
datetimes and dates as milliseconds since the epoch.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.emulator.bulk1wire import (
    ASYNC_NS,
    CsvParseError,
    parse_csv_records,
    parse_job_xml,
    parse_xml_records,
    query_results_xml,
    results_csv,
    results_xml,
)
from connector.emulator.bulkcsv import IdFactory, csv_text, lookup, resolve_path, to_csv_value
from connector.emulator.bulkjobs import TRANSACTION_ROWS, select_columns, validate_bulk_soql
from connector.emulator.errors import ApiError
from connector.emulator.schema import ObjectDef

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = ["Bulk1", "BulkV1Error", "routes"]

OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete", "query", "queryAll")
CONTENT_TYPES = ("JSON", "CSV", "XML")

Handler = Callable[[Request], Awaitable[Response]]


class BulkV1Error(Exception):
    """An async-API error: ``{"exceptionCode", "exceptionMessage"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Batch:
    """One batch: its request, state and results."""

    id: str
    job_id: str
    created: str
    request: Any
    state: str = "Queued"
    state_message: str | None = None
    modstamp: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    query_results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    csv_results: dict[str, str] = field(default_factory=dict)
    csv_counts: int = 0
    processing_ms: int = 0

    def info(self) -> dict[str, Any]:
        failed = sum(1 for r in self.results if not r.get("success"))
        processed = (
            sum(len(v) for v in self.query_results.values())
            if self.query_results
            else self.csv_counts or len(self.results)
        )
        return {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": self.processing_ms,
            "createdDate": self.created,
            "id": self.id,
            "jobId": self.job_id,
            "numberRecordsFailed": failed,
            "numberRecordsProcessed": processed,
            "state": self.state,
            "stateMessage": self.state_message,
            "systemModstamp": self.modstamp or self.created,
            "totalProcessingTime": self.processing_ms,
        }


@dataclass
class Job:
    """A Bulk 1.0 job."""

    id: str
    operation: str
    sobject: str
    created_by: str
    created: str
    api_version: str
    content_type: str
    concurrency: str
    external_id_field: str | None
    state: str = "Open"
    modstamp: str = ""
    batches: dict[str, Batch] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        batches = list(self.batches.values())

        def count(state: str) -> int:
            return sum(1 for b in batches if b.state == state)

        return {
            "apexProcessingTime": 0,
            "apiActiveProcessingTime": sum(b.processing_ms for b in batches),
            "apiVersion": float(self.api_version),
            "assignmentRuleId": None,
            "concurrencyMode": self.concurrency,
            "contentType": self.content_type,
            "createdById": self.created_by,
            "createdDate": self.created,
            "externalIdFieldName": self.external_id_field,
            "fastPathEnabled": False,
            "id": self.id,
            "numberBatchesCompleted": count("Completed"),
            "numberBatchesFailed": count("Failed"),
            "numberBatchesInProgress": count("InProgress"),
            "numberBatchesQueued": count("Queued"),
            "numberBatchesTotal": len(batches),
            "numberRecordsFailed": sum(b.info()["numberRecordsFailed"] for b in batches),
            "numberRecordsProcessed": sum(b.info()["numberRecordsProcessed"] for b in batches),
            "numberRetries": 0,
            "object": self.sobject,
            "operation": self.operation,
            "state": self.state,
            "systemModstamp": self.modstamp or self.created,
            "totalProcessingTime": sum(b.processing_ms for b in batches),
        }


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _xml(root: str, body: dict[str, Any], status: int = 200) -> Response:
    """A flat object as the async API's XML (nulls left out, like Salesforce)."""
    inner = "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in body.items() if v is not None)
    text = f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{ASYNC_NS}">{inner}</{root}>'
    return Response(text, status_code=status, media_type="application/xml")


def _wants_xml(request: Request, job: Job | None) -> bool:
    """Batch and job resources answer in the job's format (XML for CSV/XML jobs); creating
    or closing a job answers in the request's format."""
    if job is not None:
        return job.content_type != "JSON"
    return "xml" in request.headers.get("content-type", "")


def _epoch_ms(value: str, ftype: str) -> int | str:
    """Bulk 1.0 JSON query results give dates and datetimes as epoch milliseconds."""
    try:
        if ftype == "date":
            d = datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            d = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return value
    return int(d.timestamp() * 1000)


class Bulk1:
    """Jobs of one org and the handlers of the Bulk 1.0 async API."""

    def __init__(self, org: Org, user_of_session: Callable[[str], str]) -> None:
        self.org = org
        self.user_of_session = user_of_session
        self.jobs: dict[str, Job] = {}
        self._job_ids = IdFactory("750", start=500000)
        self._batch_ids = IdFactory("751")
        self._result_ids = IdFactory("752")
        self._lock = threading.RLock()

    # --- plumbing -------------------------------------------------------------------------

    def _user(self, request: Request) -> str:
        token = request.headers.get("X-SFDC-Session", "")
        if not token:
            raise BulkV1Error(400, "InvalidSessionId", "Invalid session id")
        try:
            return self.user_of_session(token)
        except ApiError as exc:
            raise BulkV1Error(400, "InvalidSessionId", "Invalid session id") from exc

    def _job(self, request: Request) -> Job:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            raise BulkV1Error(
                400, "InvalidJob", f"Unable to find job: {request.path_params['job_id']}"
            )
        return job

    def _batch(self, request: Request) -> tuple[Job, Batch]:
        job = self._job(request)
        batch = job.batches.get(request.path_params["batch_id"])
        if batch is None:
            raise BulkV1Error(
                400, "InvalidBatch", f"Unable to find batch: {request.path_params['batch_id']}"
            )
        return job, batch

    def _object(self, name: str) -> ObjectDef:
        for key, obj in self.org.schema.items():
            if key.lower() == name.lower():
                return obj
        raise BulkV1Error(400, "InvalidJob", f"Unable to find object: {name}")

    def _wrap(self, fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                self._user(request)
                self.org.count_call("async/job")
                return await fn(request)
            except BulkV1Error as exc:
                body = {"exceptionCode": exc.code, "exceptionMessage": exc.message}
                if "xml" in request.headers.get("content-type", ""):
                    return _xml("error", body, exc.status)
                return _json(body, exc.status)

        return handler

    async def _json_body(self, request: Request) -> Any:
        try:
            return orjson.loads(await request.body() or b"null")
        except orjson.JSONDecodeError as exc:
            raise BulkV1Error(400, "InvalidBatch", f"Failed to parse JSON: {exc}") from exc

    async def _job_body(self, request: Request) -> Any:
        """A JobInfo request: XML (``<jobInfo>``) or JSON, by its Content-Type."""
        if "xml" in request.headers.get("content-type", ""):
            try:
                return parse_job_xml(await request.body())
            except CsvParseError as exc:
                raise BulkV1Error(400, "InvalidJob", str(exc)) from exc
        return await self._json_body(request)

    # --- jobs -----------------------------------------------------------------------------

    async def create_job(self, request: Request) -> Response:
        user = self._user(request)
        body = await self._job_body(request)
        if not isinstance(body, dict):
            raise BulkV1Error(400, "InvalidJob", "Expected a JobInfo JSON object")
        op = body.get("operation")
        if op not in OPERATIONS:
            raise BulkV1Error(400, "InvalidJob", f"Invalid operation: {op}")
        obj = self._object(str(body.get("object") or ""))
        content_type = str(body.get("contentType") or "XML")
        if content_type not in CONTENT_TYPES:
            raise BulkV1Error(
                400, "InvalidJob", f"contentType {content_type}: the emulator takes JSON, CSV, XML"
            )
        ext = body.get("externalIdFieldName")
        if op == "upsert":
            ext_field = obj.field(str(ext or ""))
            if ext_field is None:
                raise BulkV1Error(400, "InvalidJob", f"Invalid external id field: {ext}")
            ext = ext_field.name
        mode = body.get("concurrencyMode")
        concurrency = "Serial" if mode in (1, "Serial") else "Parallel"
        job = Job(
            id=self._job_ids.next(),
            operation=op,
            sobject=obj.name,
            created_by=user,
            created=self.org.now(),
            api_version=request.path_params["version"],
            content_type=content_type,
            concurrency=concurrency,
            external_id_field=ext if op == "upsert" else None,
        )
        with self._lock:
            self.jobs[job.id] = job
        return self._render(request, None, "jobInfo", job.info(), 201)

    def _render(
        self, request: Request, job: Job | None, root: str, body: dict[str, Any], status: int = 200
    ) -> Response:
        if _wants_xml(request, job):
            return _xml(root, body, status)
        return _json(body, status)

    async def job_info(self, request: Request) -> Response:
        job = self._job(request)
        return self._render(request, job, "jobInfo", job.info())

    async def update_job(self, request: Request) -> Response:
        job = self._job(request)
        body = await self._job_body(request)
        state = body.get("state") if isinstance(body, dict) else None
        if state not in ("Closed", "Aborted"):
            raise BulkV1Error(400, "InvalidJob", f"Invalid state: {state}")
        with self._lock:
            if job.state != "Open" and job.state != state:
                raise BulkV1Error(400, "InvalidJobState", f"Job is {job.state}")
            job.state = state
            job.modstamp = self.org.now()
        return self._render(request, None, "jobInfo", job.info())

    # --- batches --------------------------------------------------------------------------

    async def add_batch(self, request: Request) -> Response:
        job = self._job(request)
        if job.state != "Open":
            raise BulkV1Error(400, "InvalidJobState", f"Job {job.id} is {job.state}, not Open")
        raw = await request.body()
        payload: Any
        if job.operation in ("query", "queryAll"):
            payload = raw.decode("utf-8")
        elif job.content_type == "CSV":
            try:
                payload = parse_csv_records(raw)
            except CsvParseError as exc:
                raise BulkV1Error(400, "InvalidBatch", str(exc)) from exc
        elif job.content_type == "XML":
            try:
                payload = parse_xml_records(raw)
            except CsvParseError as exc:
                raise BulkV1Error(400, "InvalidBatch", str(exc)) from exc
        else:
            payload = await self._json_body(request)
            if not isinstance(payload, list):
                raise BulkV1Error(400, "InvalidBatch", "Records must be a JSON array")
        batch = Batch(
            id=self._batch_ids.next(), job_id=job.id, created=self.org.now(), request=payload
        )
        with self._lock:
            job.batches[batch.id] = batch
        info = batch.info()
        self._process(job, batch)
        return self._render(request, job, "batchInfo", info, 201)

    async def list_batches(self, request: Request) -> Response:
        job = self._job(request)
        infos = [b.info() for b in job.batches.values()]
        if job.content_type == "JSON":
            return _json({"batchInfo": infos})
        inner = "".join(
            "<batchInfo>"
            + "".join(f"<{k}>{_xml_text(v)}</{k}>" for k, v in i.items() if v is not None)
            + "</batchInfo>"
            for i in infos
        )
        text = (
            f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{ASYNC_NS}">'
            f"{inner}</batchInfoList>"
        )
        return Response(text, media_type="application/xml")

    async def batch_info(self, request: Request) -> Response:
        job, batch = self._batch(request)
        return self._render(request, job, "batchInfo", batch.info())

    async def batch_request(self, request: Request) -> Response:
        batch = self._batch(request)[1]
        if isinstance(batch.request, str):
            return Response(batch.request, media_type="text/plain")
        return _json(batch.request)

    async def batch_result(self, request: Request) -> Response:
        job, batch = self._batch(request)
        if batch.state not in ("Completed", "Failed"):
            raise BulkV1Error(400, "InvalidBatch", f"Batch not completed: {batch.state}")
        if job.operation in ("query", "queryAll"):
            if job.content_type in ("CSV", "XML"):
                ids = batch.csv_results or batch.query_results
                inner = "".join(f"<result>{rid}</result>" for rid in ids)
                text = (
                    f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{ASYNC_NS}">'
                    f"{inner}</result-list>"
                )
                return Response(text, media_type="application/xml")
            return _json(list(batch.query_results))
        if job.content_type == "CSV":
            # Exactly text/csv, as Salesforce sends it: clients compare the header verbatim.
            return Response(results_csv(batch.results), headers={"Content-Type": "text/csv"})
        if job.content_type == "XML":
            return Response(results_xml(batch.results), media_type="application/xml")
        return _json(batch.results)

    async def query_result(self, request: Request) -> Response:
        batch = self._batch(request)[1]
        job = self._job(request)
        text = batch.csv_results.get(request.path_params["result_id"])
        if text is not None:
            return Response(text, headers={"Content-Type": "text/csv"})
        records = batch.query_results.get(request.path_params["result_id"])
        if records is None:
            raise BulkV1Error(400, "InvalidBatch", "Unable to find result")
        if job.content_type == "XML":
            return Response(query_results_xml(job.sobject, records),
                            media_type="application/xml")
        return _json(records)

    # --- processing -----------------------------------------------------------------------

    def _process(self, job: Job, batch: Batch) -> None:
        batch.state = "InProgress"
        try:
            if job.operation in ("query", "queryAll"):
                self._query(job, batch)
            else:
                results: list[dict[str, Any]] = []
                for start in range(0, len(batch.request), TRANSACTION_ROWS):
                    # up to 200 records per transaction (one CDC transactionKey), as in an org
                    with self.org.atomic():
                        chunk = batch.request[start : start + TRANSACTION_ROWS]
                        results += [self._record(job, r) for r in chunk]
                batch.results = results
            batch.state = "Completed"
        except ApiError as exc:
            batch.state = "Failed"
            batch.state_message = (
                f"InvalidBatch : Failed to process query: {exc.code}: {exc.message}"
            )
        batch.modstamp = self.org.now()

    def _query(self, job: Job, batch: Batch) -> None:
        soql = str(batch.request).strip()
        try:
            validate_bulk_soql(soql)
        except ApiError as exc:
            raise ApiError(400, "FUNCTIONALITY_NOT_ENABLED", exc.message) from exc
        result = self.org.query(soql, job.operation == "queryAll", job.api_version,
                                user=job.created_by)
        if job.content_type == "CSV":
            columns, _ = select_columns(soql)
            resolved = [resolve_path(self.org.schema, job.sobject, c) for c in columns]
            rows = [
                [
                    to_csv_value(lookup(rec, c), f)
                    for c, (_, f) in zip(columns, resolved, strict=True)
                ]
                for rec in result.records
            ]
            batch.csv_results[self._result_ids.next()] = csv_text([n for n, _ in resolved], rows)
            batch.csv_counts = len(rows)
            return
        if job.content_type == "XML":
            batch.query_results[self._result_ids.next()] = list(result.records)
            return
        records = [self._bulk_record(rec, job.sobject) for rec in result.records]
        batch.query_results[self._result_ids.next()] = records

    def _bulk_record(self, rec: dict[str, Any], sobject: str) -> dict[str, Any]:
        obj = self.org.schema.get(sobject)
        out: dict[str, Any] = {}
        for key, value in rec.items():
            if key == "attributes":
                out[key] = {"type": value.get("type", sobject), "url": value.get("url")}
                continue
            f = obj.field(key) if obj else None
            if isinstance(value, dict):
                rel = obj.relationship(key) if obj else None
                target = rel.reference_to[0] if rel and len(rel.reference_to) == 1 else ""
                out[key] = self._bulk_record(
                    value, str(value.get("attributes", {}).get("type", target))
                )
            elif isinstance(value, str) and f is not None and f.type in ("date", "datetime"):
                out[key] = _epoch_ms(value, f.type)
            else:
                out[key] = value
        return out

    def _record(self, job: Job, record: Any) -> dict[str, Any]:
        if not isinstance(record, dict):
            return _failure("INVALID_INPUT", "Each record must be a JSON object", [])
        values = {k: v for k, v in record.items() if k != "attributes"}
        record_id = next((v for k, v in values.items() if k.lower() == "id"), None)
        values = {k: v for k, v in values.items() if k.lower() != "id"}
        user = job.created_by
        try:
            with self.org.savepoint():  # a failed record leaves the others
                if job.operation in ("delete", "hardDelete"):
                    if not record_id:
                        raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in a delete call")
                    self.org.delete(job.sobject, str(record_id), user)
                    if job.operation == "hardDelete":
                        self.org.purge([str(record_id)])
                    return _success(str(record_id), False)
                if job.operation == "update":
                    if not record_id:
                        raise ApiError(
                            400, "MISSING_ARGUMENT", "Id not specified in an update call"
                        )
                    self.org.update(job.sobject, str(record_id), values, user)
                    return _success(str(record_id), False)
                if job.operation == "insert":
                    return _success(self.org.create(job.sobject, values, user), True)
                ext = job.external_id_field or "Id"
                if ext == "Id":
                    if record_id:
                        self.org.update(job.sobject, str(record_id), values, user)
                        return _success(str(record_id), False)
                    return _success(self.org.create(job.sobject, values, user), True)
                ext_value = next((v for k, v in values.items() if k.lower() == ext.lower()), None)
                if ext_value in (None, ""):
                    raise ApiError(400, "MISSING_ARGUMENT", f"{ext} not specified", fields=[ext])
                new_id, created = self.org.upsert(job.sobject, ext, str(ext_value), values, user)
                return _success(new_id, created)
        except ApiError as exc:
            return _failure(exc.code, exc.message, exc.fields or [], record_id)

    # --- routing --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        base = "/services/async/{version}/job"
        table: list[tuple[str, Handler, list[str]]] = [
            ("", self.create_job, ["POST"]),
            ("/{job_id}", self.job_info, ["GET"]),
            ("/{job_id}", self.update_job, ["POST"]),
            ("/{job_id}/batch", self.add_batch, ["POST"]),
            ("/{job_id}/batch", self.list_batches, ["GET"]),
            ("/{job_id}/batch/{batch_id}", self.batch_info, ["GET"]),
            ("/{job_id}/batch/{batch_id}/request", self.batch_request, ["GET"]),
            ("/{job_id}/batch/{batch_id}/result", self.batch_result, ["GET"]),
            ("/{job_id}/batch/{batch_id}/result/{result_id}", self.query_result, ["GET"]),
        ]
        return [Route(base + path, self._wrap(fn), methods=m) for path, fn, m in table]


def _success(record_id: str, created: bool) -> dict[str, Any]:
    return {"success": True, "created": created, "id": record_id, "errors": []}


def _failure(code: str, message: str, fields: list[str], record_id: Any = None) -> dict[str, Any]:
    return {
        "success": False,
        "created": False,
        "id": record_id or None,
        "errors": [{"statusCode": code, "message": message, "fields": fields}],
    }


def routes(org: Org) -> list[BaseRoute]:
    """The Bulk API 1.0 routes for ``org``, mounted by the app."""
    from connector.emulator import auth

    return Bulk1(org, auth.user_for_token).routes()
