"""Bulk API 2.0 (``/services/data/vNN.0/jobs/ingest`` and ``jobs/query``) over the Org.

Ingest: create a job (state Open), PUT one or more CSV uploads to ``batches`` (201), PATCH
``UploadComplete``; a worker thread then moves the job through InProgress to JobComplete and
keeps per-row results for ``successfulResults`` / ``failedResults`` / ``unprocessedRecords``.
Query: the SOQL is checked when the job is created; a worker thread then runs it, moving the job
from UploadComplete through InProgress to JobComplete. Results are served in pages of
``maxRecords`` with ``Sforce-Locator`` ("null" after the last page) and
``Sforce-NumberOfRecords`` headers. The job data and the column mapping live in ``bulkjobs``
and ``bulkplan``.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.emulator.bulkcsv import (
    DELIMITERS,
    LINE_ENDINGS,
    IdFactory,
    csv_text,
    read_csv,
    resolve_path,
    row_error,
)
from connector.emulator.bulkjobs import (
    TRANSACTION_ROWS,
    IngestResult,
    Job,
    locator,
    offset_of,
    select_columns,
    validate_bulk_soql,
)
from connector.emulator.bulkplan import ColumnPlan, csv_rows
from connector.emulator.errors import ApiError
from connector.emulator.schema import ObjectDef

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = ["Bulk2", "routes"]

INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
DEFAULT_PAGE = 50000  # records per results page when maxRecords is absent

Handler = Callable[[Request], Awaitable[Response]]


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error(exc: ApiError) -> Response:
    return Response(
        orjson.dumps(exc.body()),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers,
    )


class Bulk2:
    """The jobs of one org and the HTTP handlers that drive them."""

    def __init__(self, org: Org, user_of: Callable[[Request], str]) -> None:
        self.org = org
        self.user_of = user_of
        self.jobs: dict[str, Job] = {}
        self._ids = IdFactory("750")
        self._lock = threading.Lock()

    # --- helpers --------------------------------------------------------------------------

    def _job(self, request: Request, kind: str) -> Job:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None or job.kind != kind:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _touch(self, job: Job, state: str | None = None) -> None:
        if state:
            job.state = state
            job.states.append(state)
        job.modstamp = self.org.now()

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"Invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        return body

    def _object(self, name: str) -> ObjectDef:
        for key, obj in self.org.schema.items():
            if key.lower() == name.lower():
                return obj
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {name}")

    def _wrap(self, endpoint: str, fn: Handler) -> Handler:
        async def handler(request: Request) -> Response:
            try:
                self.org.count_call(endpoint)
                response = await fn(request)
            except ApiError as exc:
                response = _error(exc)
            response.headers["Sforce-Limit-Info"] = self.org.limit_info()
            return response

        return handler

    # --- ingest ---------------------------------------------------------------------------

    async def create_ingest(self, request: Request) -> Response:
        user = self.user_of(request)
        body = await self._body(request)
        op = body.get("operation")
        if op not in INGEST_OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {op}")
        obj = self._object(str(body.get("object") or ""))
        if body.get("contentType", "CSV") != "CSV":
            raise ApiError(400, "INVALIDJOB", "InvalidJob : contentType must be CSV")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : invalid columnDelimiter or lineEnding")
        ext = body.get("externalIdFieldName")
        if op == "upsert":
            if not ext:
                raise ApiError(
                    400, "INVALIDJOB", "InvalidJob : External ID field is required for upsert"
                )
            ext_field = obj.field(str(ext))
            if ext_field is None or not (
                ext_field.external_id or ext_field.id_lookup or ext_field.name == "Id"
            ):
                raise ApiError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} is not an External ID or "
                    f"indexed field for {obj.name}",
                )
            ext = ext_field.name
        now = self.org.now()
        job = Job(
            id=self._ids.next(),
            kind="ingest",
            operation=op,
            sobject=obj.name,
            created_by=user,
            created=now,
            api_version=request.path_params["version"],
            line_ending=line_ending,
            column_delimiter=delimiter,
            external_id_field=ext if op == "upsert" else None,
        )
        with self._lock:
            self.jobs[job.id] = job
        return _json(job.info())

    async def upload(self, request: Request) -> Response:
        self.user_of(request)
        job = self._job(request, "ingest")
        data = (await request.body()).decode("utf-8")
        with self._lock:
            if job.state != "Open":
                raise ApiError(
                    409, "INVALIDJOBSTATE", f"Job {job.id} is not Open (state {job.state})"
                )
            job.uploads.append(data)
        return Response(status_code=201)

    async def patch_ingest(self, request: Request) -> Response:
        self.user_of(request)
        job = self._job(request, "ingest")
        state = (await self._body(request)).get("state")
        with self._lock:
            if state == "UploadComplete":
                if job.state != "Open":
                    raise ApiError(
                        409, "INVALIDJOBSTATE", f"Job {job.id} is not Open (state {job.state})"
                    )
                self._touch(job, "UploadComplete")
                # In a copy of the request's context: its change events name the Bulk API.
                threading.Thread(
                    target=contextvars.copy_context().run, args=(self._process, job),
                    name=f"bulk2-{job.id}", daemon=True,
                ).start()
            elif state == "Aborted":
                if job.state not in ("Open", "UploadComplete", "InProgress"):
                    raise ApiError(
                        409, "INVALIDJOBSTATE", f"Job {job.id} cannot be aborted ({job.state})"
                    )
                if job.state == "Open":
                    with contextlib.suppress(ApiError):  # nothing ran: all rows unprocessed
                        self._parse_uploads(job)
                    job.done.set()
                self._touch(job, "Aborted")
            else:
                raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
            return _json(job.info())

    async def get_ingest(self, request: Request) -> Response:
        self.user_of(request)
        return _json(self._job(request, "ingest").info())

    async def list_jobs(self, request: Request) -> Response:
        self.user_of(request)
        kind = "query" if "/jobs/query" in request.url.path else "ingest"
        records = [j.info() for j in list(self.jobs.values()) if j.kind == kind]
        return _json({"done": True, "records": records, "nextRecordsUrl": None})

    async def delete_job(self, request: Request) -> Response:
        self.user_of(request)
        kind = "query" if "/jobs/query" in request.url.path else "ingest"
        job = self._job(request, kind)
        with self._lock:
            if job.state in ("Open", "InProgress"):
                raise ApiError(
                    400, "INVALIDJOBSTATE", f"Job {job.id} cannot be deleted ({job.state})"
                )
            self.jobs.pop(job.id, None)
        return Response(status_code=204)

    async def ingest_results(self, request: Request) -> Response:
        self.user_of(request)
        job = self._job(request, "ingest")
        which = request.path_params["which"]
        if job.state not in ("JobComplete", "Failed", "Aborted"):
            raise ApiError(
                400, "INVALIDJOBSTATE", f"Job {job.id} is not complete (state {job.state})"
            )
        if which == "successfulResults":
            text = csv_text(
                ["sf__Id", "sf__Created", *job.header],
                [
                    [r.sf_id, "true" if r.created else "false", *r.values]
                    for r in job.results
                    if r.error is None
                ],
            )
        elif which == "failedResults":
            text = csv_text(
                ["sf__Id", "sf__Error", *job.header],
                [[r.sf_id, r.error or "", *r.values] for r in job.results if r.error],
            )
        elif which in ("unprocessedrecords", "unprocessedRecords"):
            # The guide spells the path in lower case; simple-salesforce uses camel case.
            text = csv_text(job.header, job.unprocessed) if job.header else ""
        else:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(text, media_type="text/csv")

    # --- ingest processing ----------------------------------------------------------------

    def _process(self, job: Job) -> None:
        started = self.org.now()
        try:
            if job.state == "UploadComplete":
                self._touch(job, "InProgress")
            self._run_rows(job)
        except ApiError as exc:
            job.error_message = f"{exc.code} : {exc.message}"
            self._touch(job, "Failed")
        except Exception as exc:  # a bug must fail the job, never hang the client
            job.error_message = f"UNKNOWN_EXCEPTION : {exc}"
            self._touch(job, "Failed")
        finally:
            job.processing_ms = _ms_between(started, self.org.now())
            job.done.set()

    def _parse_uploads(self, job: Job) -> None:
        """Header and rows of every upload; all rows start out unprocessed."""
        delimiter = DELIMITERS[job.column_delimiter]
        header: list[str] = []
        rows: list[list[str]] = []
        for upload in job.uploads:
            h, r = read_csv(upload, delimiter)
            if not h:
                continue
            if header and [c.lower() for c in h] != [c.lower() for c in header]:
                raise ApiError(400, "InvalidBatch", "All uploads must have the same header row")
            header = header or h
            rows.extend(r)
        job.header = header
        job.unprocessed = rows

    def _run_rows(self, job: Job) -> None:
        self._parse_uploads(job)
        if not job.header:
            raise ApiError(400, "InvalidBatch", "Empty CSV: no header row was uploaded")
        rows = job.unprocessed
        obj = self.org.schema[job.sobject]
        plan = ColumnPlan(self.org, obj, job.header, job.operation)
        if job.external_id_field and job.external_id_field != "Id":
            plan.ext_column(job.external_id_field)
        for start in range(0, len(rows), TRANSACTION_ROWS):
            if job.state == "Aborted":
                job.unprocessed = rows[start:]
                return
            # As in an org: up to 200 rows per transaction (one CDC transactionKey), each row
            # in a savepoint so its failure leaves the others.
            with self.org.atomic():
                for row in rows[start : start + TRANSACTION_ROWS]:
                    job.results.append(self._row(job, plan, row))
        job.unprocessed = []
        self._touch(job, "JobComplete")

    def _row(self, job: Job, plan: ColumnPlan, row: list[str]) -> IngestResult:
        row = (row + [""] * len(job.header))[: len(job.header)]
        result = IngestResult(values=row)
        try:
            with self.org.savepoint():
                self._apply_row(job, plan, row, result)
        except ApiError as exc:
            result.error = row_error(exc.code, exc.message, exc.fields)
        return result

    def _apply_row(self, job: Job, plan: ColumnPlan, row: list[str], result: IngestResult) -> None:
        """One row's DML (raises ApiError for the row's failure)."""
        values, record_id, ext_value = plan.values(row)
        result.sf_id = record_id or ""
        op = job.operation
        if op in ("delete", "hardDelete"):
            if not record_id:
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in a delete call")
            self.org.delete(job.sobject, record_id, job.created_by)
            if op == "hardDelete":
                self.org.purge([record_id])  # skips the recycle bin
        elif op == "update":
            if not record_id:
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
            self.org.update(job.sobject, record_id, values, job.created_by)
        elif op == "insert":
            result.sf_id = self.org.create(job.sobject, values, job.created_by)
            result.created = True
        else:
            ext = job.external_id_field or "Id"
            if ext == "Id":
                if record_id:
                    self.org.update(job.sobject, record_id, values, job.created_by)
                else:
                    result.sf_id = self.org.create(job.sobject, values, job.created_by)
                    result.created = True
            else:
                if not ext_value:
                    raise ApiError(
                        400, "MISSING_ARGUMENT", f"{ext} not specified", fields=[ext]
                    )
                result.sf_id, result.created = self.org.upsert(
                    job.sobject, ext, ext_value, values, job.created_by
                )

    # --- query ----------------------------------------------------------------------------

    async def create_query(self, request: Request) -> Response:
        user = self.user_of(request)
        body = await self._body(request)
        op = body.get("operation", "query")
        if op not in QUERY_OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {op}")
        soql = str(body.get("query") or "")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise ApiError(400, "INVALIDJOB", "InvalidJob : invalid columnDelimiter or lineEnding")
        validate_bulk_soql(soql)
        columns, sobject_name = select_columns(soql)
        obj = self._object(sobject_name)
        resolved = [resolve_path(self.org.schema, obj.name, c) for c in columns]
        job = Job(
            id=self._ids.next(),
            kind="query",
            operation=op,
            sobject=obj.name,
            created_by=user,
            created=self.org.now(),
            api_version=request.path_params["version"],
            line_ending=line_ending,
            column_delimiter=delimiter,
            query=soql,
            state="UploadComplete",
            columns=[name for name, _ in resolved],
            column_fields=[f for _, f in resolved],
        )
        job.states.append(job.state)
        created = job.info()
        with self._lock:
            self.jobs[job.id] = job
        # The job runs after the create call returns, as in an org: UploadComplete, then
        # InProgress, then JobComplete (or Failed); callers poll the job.
        threading.Thread(
            target=self._run_query, args=(job, columns), name=f"bulk2-{job.id}", daemon=True
        ).start()
        return _json(created)

    def _run_query(self, job: Job, columns: list[str]) -> None:
        started = self.org.now()
        with self._lock:
            if job.state != "UploadComplete":  # aborted before it started
                job.done.set()
                return
            self._touch(job, "InProgress")
        try:
            result = self.org.query(job.query or "", job.operation == "queryAll",
                                    user=job.created_by)
            if result.aggregate:
                raise ApiError(400, "API_ERROR", "Aggregate queries are not supported")
            records = result.records
        except ApiError as exc:
            with self._lock:
                job.error_message = exc.message
                self._touch(job, "Failed")
                job.done.set()
            return
        with self._lock:
            if job.state == "InProgress":
                job.records, job.select = records, columns
                job.processing_ms = _ms_between(started, self.org.now())
                self._touch(job, "JobComplete")
            job.done.set()

    async def get_query(self, request: Request) -> Response:
        self.user_of(request)
        return _json(self._job(request, "query").info())

    async def patch_query(self, request: Request) -> Response:
        self.user_of(request)
        job = self._job(request, "query")
        state = (await self._body(request)).get("state")
        if state != "Aborted":
            raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
        if job.state not in ("UploadComplete", "InProgress"):
            raise ApiError(409, "INVALIDJOBSTATE", f"Job {job.id} cannot be aborted ({job.state})")
        self._touch(job, "Aborted")
        return _json(job.info())

    async def query_results(self, request: Request) -> Response:
        self.user_of(request)
        job = self._job(request, "query")
        if job.state != "JobComplete":
            raise ApiError(
                400, "INVALIDJOBSTATE", f"Job {job.id} is not complete (state {job.state})"
            )
        params = request.query_params
        try:
            page = int(params.get("maxRecords") or DEFAULT_PAGE)
        except ValueError as exc:
            raise ApiError(400, "INVALID_QUERY_PARAM", "maxRecords must be a number") from exc
        if page < 1:
            raise ApiError(400, "INVALID_QUERY_PARAM", "maxRecords must be positive")
        start = offset_of(params["locator"]) if params.get("locator") else 0
        # CSV cells for this page only: a page costs the same whenever it is read, and the
        # job completes without converting rows nobody has asked for yet.
        chunk = csv_rows(job.records[start : start + page], job.select, job.column_fields)
        end = start + len(chunk)
        text = csv_text(
            job.columns,
            chunk,
            delimiter=DELIMITERS[job.column_delimiter],
            line_ending=LINE_ENDINGS[job.line_ending],
        )
        return Response(
            text,
            media_type="text/csv",
            headers={
                "Sforce-NumberOfRecords": str(len(chunk)),
                "Sforce-Locator": locator(end) if end < len(job.records) else "null",
            },
        )

    # --- routing --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Starlette routes, each with and without a trailing slash."""
        base = "/services/data/v{version}/jobs"
        table: list[tuple[str, str, Handler, list[str]]] = [
            ("/ingest", "jobs/ingest", self.create_ingest, ["POST"]),
            ("/ingest", "jobs/ingest", self.list_jobs, ["GET"]),
            ("/ingest/{job_id}", "jobs/ingest", self.get_ingest, ["GET"]),
            ("/ingest/{job_id}", "jobs/ingest", self.patch_ingest, ["PATCH"]),
            ("/ingest/{job_id}", "jobs/ingest", self.delete_job, ["DELETE"]),
            ("/ingest/{job_id}/batches", "jobs/ingest", self.upload, ["PUT"]),
            ("/ingest/{job_id}/{which}", "jobs/ingest", self.ingest_results, ["GET"]),
            ("/query", "jobs/query", self.create_query, ["POST"]),
            ("/query", "jobs/query", self.list_jobs, ["GET"]),
            ("/query/{job_id}", "jobs/query", self.get_query, ["GET"]),
            ("/query/{job_id}", "jobs/query", self.patch_query, ["PATCH"]),
            ("/query/{job_id}", "jobs/query", self.delete_job, ["DELETE"]),
            ("/query/{job_id}/results", "jobs/query", self.query_results, ["GET"]),
        ]
        out: list[BaseRoute] = []
        for path, endpoint, fn, methods in table:
            handler = self._wrap(endpoint, fn)
            out.append(Route(base + path, handler, methods=methods))
            out.append(Route(base + path + "/", handler, methods=methods))
        return out


def _ms_between(start: str, end: str) -> int:
    from datetime import datetime

    def parse(s: str) -> datetime:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z")

    try:
        return max(0, int((parse(end) - parse(start)).total_seconds() * 1000))
    except ValueError:
        return 0


def routes(org: Org) -> list[BaseRoute]:
    """The Bulk API 2.0 routes for ``org``, mounted by the app."""
    from connector.emulator import auth

    return Bulk2(org, auth.require_user).routes()
