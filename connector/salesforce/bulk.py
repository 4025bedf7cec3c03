"""Bulk API 2.0: query jobs read page by page, ingest jobs matched back to input order.

Bulk query rows arrive as CSV strings; ``convert_row`` types them the way REST returns them
(booleans, numbers, nulls, ``2026-11-22T10:16:09.000+0000`` datetimes, nested relationships,
``attributes``), so the poller cannot tell Bulk rows from REST rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from connector.logs import get_logger
from connector.salesforce.errors import BadRequest, ErrorAction, error_for
from connector.salesforce.results import RecordError, RecordResult, parse_sf_datetime

if TYPE_CHECKING:
    from connector.salesforce.transport import Transport

__all__ = [
    "QueryJob",
    "column_converters",
    "convert_row",
    "convert_rows",
    "format_sf_datetime",
    "ingest",
    "parse_bulk_error",
    "query_pages",
    "start_query",
    "to_csv",
]

log = get_logger("connector.salesforce")

QUERY_PAGE_SIZE = 5000
_FROM = re.compile(r"\bFROM\s+([A-Za-z0-9_]+)", re.IGNORECASE)
_OPERATIONS = {"create": "insert", "update": "update", "upsert": "upsert", "delete": "delete"}
NULL = "#N/A"  # how Bulk API 2.0 CSV sets a field to null

Converter = Callable[[str], Any]


def format_sf_datetime(value: datetime) -> str:
    """A datetime the way REST returns it: ``2026-11-22T10:16:09.000+0000``."""
    v = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return v.strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}+0000"


def _datetime(text: str) -> str:
    parsed = parse_sf_datetime(text)
    if parsed is None:
        return text
    if len(text) == 24 and text[23] == "Z" and text[19] == "." and text[10] == "T":
        # ``2026-11-22T10:16:09.000Z`` (what Bulk API 2.0 writes): the REST form is the same
        # digits with +0000, without formatting the parsed value again (strftime is slow)
        return text[:23] + "+0000"
    return format_sf_datetime(parsed)


def _boolean(text: str) -> bool:
    return text.strip().lower() == "true"


def _number(text: str) -> float:
    return float(text)


def _integer(text: str) -> int:
    return int(float(text))


_BY_TYPE: dict[str, Converter] = {
    "boolean": _boolean,
    "int": _integer,
    "long": _integer,
    "double": _number,
    "currency": _number,
    "percent": _number,
    "datetime": _datetime,
}


def column_converters(describe: dict[str, Any]) -> dict[str, Converter]:
    """Lower-cased field name -> converter, from a describe's ``fields``."""
    return {
        str(f["name"]).lower(): _BY_TYPE.get(str(f.get("type")), str)
        for f in describe.get("fields") or []
    }


def convert_row(
    row: dict[str, str], converters: dict[str, Converter], sobject: str, api_version: str
) -> dict[str, Any]:
    """One CSV row -> a REST-shaped record (empty string -> None)."""
    out: dict[str, Any] = {}
    rid = row.get("Id") or row.get("id")
    out["attributes"] = {
        "type": sobject,
        "url": f"/services/data/v{api_version}/sobjects/{sobject}/{rid}" if rid else None,
    }
    for column, raw in row.items():
        value: Any = None if raw in ("", None) else raw
        if "." in column:
            _set_nested(out, column.split("."), value)
            continue
        if value is not None:
            value = converters.get(column.lower(), str)(value)
        out[column] = value
    for key, value in list(out.items()):
        if key != "attributes" and isinstance(value, dict) and _all_none(value):
            out[key] = None  # REST gives null for an empty relationship
    return out


def convert_rows(
    text: str, converters: dict[str, Converter], sobject: str, api_version: str
) -> list[dict[str, Any]]:
    """A results page of CSV text -> REST-shaped records, as ``convert_row`` makes them.

    The per-column converter is looked up once per page, not once per cell (the hot spot of
    a large backfill). Relationship columns (``Account.Name``) and ragged rows take
    ``convert_row``.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return []
    width = len(header)
    if any("." in column for column in header):
        return [convert_row(_cells(header, c), converters, sobject, api_version) for c in reader]
    plan: list[tuple[str, Converter | None]] = []
    for column in header:
        conv = converters.get(column.lower(), str)
        plan.append((column, None if conv is str else conv))
    id_at = header.index("Id") if "Id" in header else header.index("id") if "id" in header else -1
    prefix = f"/services/data/v{api_version}/sobjects/{sobject}/"
    out: list[dict[str, Any]] = []
    for cells in reader:
        if len(cells) != width:
            out.append(convert_row(_cells(header, cells), converters, sobject, api_version))
            continue
        rid = cells[id_at] if id_at >= 0 else ""
        url = prefix + rid if rid else None
        row: dict[str, Any] = {"attributes": {"type": sobject, "url": url}}
        for (column, typed), raw in zip(plan, cells, strict=True):
            row[column] = None if raw == "" else raw if typed is None else typed(raw)
        out.append(row)
    return out


def _cells(header: list[str], cells: list[str]) -> dict[str, Any]:
    """A row as csv.DictReader gives it: missing cells None, extra ones under None."""
    row: dict[Any, Any] = {h: (cells[i] if i < len(cells) else None) for i, h in enumerate(header)}
    if len(cells) > len(header):
        row[None] = cells[len(header) :]
    return row


def _set_nested(out: dict[str, Any], parts: list[str], value: Any) -> None:
    node = out
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {"attributes": {"type": part}}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _all_none(d: dict[str, Any]) -> bool:
    return all(
        (_all_none(v) if isinstance(v, dict) else v is None)
        for k, v in d.items()
        if k != "attributes"
    )


# Job polls wait 0.05 s, then 1.3 times longer each time (up to backoff_max_seconds): a small
# job is done within tenths of a second, and a long one costs a few more status calls only.
POLL_FIRST_SECONDS = 0.05
POLL_GROWTH = 1.3


def _wait_for_job(transport: Transport, path: str, *, query: bool) -> dict[str, Any]:
    delay = POLL_FIRST_SECONDS
    while True:
        job: dict[str, Any] = transport.json("GET", path, query=query)
        state = job.get("state")
        if state == "JobComplete":
            return job
        if state in ("Failed", "Aborted"):
            if not query:
                return job
            message = str(job.get("errorMessage") or f"job {state}")
            code, _, text = message.partition(":")
            err = error_for(400, code.strip() or None, text.strip() or message, query=True)
            if err.action is ErrorAction.DEAD_LETTER:
                raise BadRequest(err.message, status=400, code=err.code)
            raise err
        transport.sleep(delay)
        delay = min(delay * POLL_GROWTH, transport.settings.backoff_max_seconds)


@dataclass(frozen=True)
class QueryJob:
    """A Bulk API 2.0 query job that has been created: the org works on it from then on."""

    id: str
    sobject: str
    converters: dict[str, Converter]


def start_query(
    transport: Transport,
    describe: Callable[[str], dict[str, Any]],
    soql: str,
    include_deleted: bool = False,
) -> QueryJob:
    """Create a query job (the object's describe gives the column types); do not wait."""
    m = _FROM.search(soql)
    if not m:
        raise BadRequest(f"Cannot find the object in the query: {soql[:200]}")
    sobject = m.group(1)
    converters = column_converters(describe(sobject))
    job = transport.json(
        "POST",
        "jobs/query",
        json_body={"operation": "queryAll" if include_deleted else "query", "query": soql},
        query=True,
        idempotent=True,  # a second query job only reads
    )
    return QueryJob(id=job["id"], sobject=sobject, converters=converters)


def query_pages(
    transport: Transport,
    describe: Callable[[str], dict[str, Any]],
    soql: str,
    include_deleted: bool = False,
    page_size: int = QUERY_PAGE_SIZE,
    job: QueryJob | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Run a query job and yield typed rows one results page at a time (constant memory).

    ``job``: one ``start_query`` already created for ``soql`` (the org may have finished it
    meanwhile); else the job is created when the first page is asked for.
    """
    if job is None:
        job = start_query(transport, describe, soql, include_deleted)
    version = transport.settings.api_version
    job_id = job.id
    _wait_for_job(transport, f"jobs/query/{job_id}", query=True)
    locator: str | None = None
    while True:
        params: dict[str, Any] = {"maxRecords": page_size}
        if locator:
            params["locator"] = locator
        resp = transport.request(
            "GET", f"jobs/query/{job_id}/results", params=params, headers={"Accept": "text/csv"}
        )
        yield convert_rows(
            resp.content.decode("utf-8-sig"), job.converters, job.sobject, version
        )
        locator = resp.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return


# --- ingest --------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_csv(records: Sequence[dict[str, Any]], columns: list[str]) -> str:
    """Records as Bulk API 2.0 CSV (LF line endings, #N/A for null)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow([_cell(r.get(c)) if c in r else "" for c in columns])
    return buf.getvalue()


def parse_bulk_error(text: str) -> RecordError:
    """``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --`` -> RecordError."""
    code, _, rest = text.partition(":")
    fields: list[str] = []
    head, sep, tail = rest.rpartition(":")
    if sep and tail.strip().endswith("--"):
        rest = head
        fields = [f.strip() for f in tail.strip().removesuffix("--").split(",") if f.strip()]
    return RecordError(
        code=code.strip() or "UNKNOWN_EXCEPTION", message=rest.strip(), fields=fields
    )


def _norm(value: str | None) -> str:
    return "" if value in (None, NULL) else str(value)


def ingest(
    transport: Transport,
    op: str,
    sobject: str,
    records: Sequence[dict[str, Any]],
    external_id_field: str | None = None,
) -> list[RecordResult]:
    """Create, upload, close and wait for an ingest job; results matched back to input order."""
    if not records:
        return []
    if op == "upsert" and not external_id_field:
        raise ValueError("upsert needs external_id_field")
    columns = ["Id"] if op == "delete" else _columns(records)
    body: dict[str, Any] = {
        "object": sobject,
        "operation": _OPERATIONS[op],
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if external_id_field:
        body["externalIdFieldName"] = external_id_field
    # Creating a job twice leaves an empty job that expires unused; no record is written
    # before the upload and UploadComplete, so the job creation may be retried.
    job_id = transport.json("POST", "jobs/ingest", json_body=body, idempotent=True)["id"]
    base = f"jobs/ingest/{job_id}"
    transport.request(
        "PUT",
        f"{base}/batches",
        data=to_csv(records, columns).encode("utf-8"),
        headers={"Content-Type": "text/csv"},
    )
    transport.json("PATCH", base, json_body={"state": "UploadComplete"})
    job = _wait_for_job(transport, base, query=False)
    log.info("salesforce.bulk_ingest", job=job_id, state=job.get("state"), records=len(records))

    waiting: dict[tuple[str, ...], deque[int]] = defaultdict(deque)
    for i, r in enumerate(records):
        waiting[tuple(_norm(_cell(r.get(c)) if c in r else "") for c in columns)].append(i)
    results: dict[int, RecordResult] = {}

    def claim(row: dict[str, str]) -> int | None:
        queue = waiting.get(tuple(_norm(row.get(c)) for c in columns))
        return queue.popleft() if queue else None

    for row in _csv_rows(transport, f"{base}/successfulResults/"):
        ok = claim(row)
        if ok is not None:
            created = row.get("sf__Created", "").lower() == "true"
            results[ok] = RecordResult(ok, row.get("sf__Id") or None, True, created)
    for row in _csv_rows(transport, f"{base}/failedResults/"):
        bad = claim(row)
        if bad is not None:
            err = parse_bulk_error(row.get("sf__Error", ""))
            results[bad] = RecordResult.failed(bad, row.get("sf__Id") or None, [err])
    unprocessed = RecordError("UNPROCESSED", f"Bulk job {job_id} ended {job.get('state')}")
    for i in range(len(records)):
        if i not in results:  # unprocessed (job failed or aborted): try again later
            results[i] = RecordResult(
                i, None, False, errors=[unprocessed], action=ErrorAction.RETRY
            )
    return [results[i] for i in range(len(records))]


def _columns(records: Sequence[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        for k in r:
            if k != "attributes":
                seen.setdefault(k, None)
    return list(seen)


def _csv_rows(transport: Transport, path: str) -> Iterator[dict[str, str]]:
    resp = transport.request("GET", path, headers={"Accept": "text/csv"})
    yield from csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig")))
