"""Bulk API 2.0 jobs as data: their state, what they produced, and the SOQL a query job takes.

``bulk2`` drives them over HTTP; this module holds no I/O.
"""

from __future__ import annotations

import base64
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from connector.emulator.errors import ApiError
from connector.emulator.schema import FieldDef

__all__ = [
    "TRANSACTION_ROWS",
    "IngestResult",
    "Job",
    "locator",
    "offset_of",
    "select_columns",
    "validate_bulk_soql",
]

TRANSACTION_ROWS = 200  # records an org saves in one transaction of a Bulk API job

_SELECT = re.compile(r"^\s*SELECT\s+(.*?)\s+FROM\s+([A-Za-z0-9_]+)", re.IGNORECASE | re.DOTALL)
_AGGREGATE = re.compile(
    r"\b(COUNT|COUNT_DISTINCT|SUM|AVG|MIN|MAX|GROUPING|CALENDAR_\w+|DAY_\w+|FISCAL_\w+|"
    r"HOUR_IN_DAY|WEEK_\w+)\s*\(",
    re.IGNORECASE,
)


@dataclass
class IngestResult:
    """One processed row: ``sf_id`` and ``created`` on success, ``error`` on failure."""

    values: list[str]
    sf_id: str = ""
    created: bool = False
    error: str | None = None


@dataclass
class Job:
    """A Bulk API 2.0 job (ingest or query) and what it has produced."""

    id: str
    kind: str  # "ingest" | "query"
    operation: str
    sobject: str
    created_by: str
    created: str
    api_version: str
    line_ending: str = "LF"
    column_delimiter: str = "COMMA"
    external_id_field: str | None = None
    query: str | None = None
    state: str = "Open"
    modstamp: str = ""
    error_message: str | None = None
    uploads: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    results: list[IngestResult] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    column_fields: list[FieldDef | None] = field(default_factory=list)
    # A query job's result: the records as the query rendered them when the job ran (copies,
    # so later DML does not change them) and the SELECT's column paths; each results page is
    # written as CSV cells when it is asked for.
    records: list[dict[str, Any]] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    processing_ms: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    states: list[str] = field(default_factory=list)  # every state it went through, in order

    def info(self) -> dict[str, Any]:
        """The JSON body of ``GET jobs/{kind}/{id}``."""
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp or self.created,
            "state": self.state,
        }
        if self.external_id_field and self.kind == "ingest":
            body["externalIdFieldName"] = self.external_id_field
        body.update(
            {
                "concurrencyMode": "Parallel",
                "contentType": "CSV",
                "apiVersion": float(self.api_version),
                "jobType": "V2Ingest" if self.kind == "ingest" else "V2Query",
                "lineEnding": self.line_ending,
                "columnDelimiter": self.column_delimiter,
            }
        )
        if self.kind == "ingest":
            if self.state == "Open":
                body["contentUrl"] = (
                    f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"
                )
            failed = sum(1 for r in self.results if r.error is not None)
            body.update(
                {
                    "numberRecordsProcessed": len(self.results),
                    "numberRecordsFailed": failed,
                    "retries": 0,
                    "totalProcessingTime": self.processing_ms,
                    "apiActiveProcessingTime": self.processing_ms,
                    "apexProcessingTime": 0,
                }
            )
        else:
            body.update(
                {
                    "numberRecordsProcessed": len(self.records),
                    "retries": 0,
                    "totalProcessingTime": self.processing_ms,
                    "isPkChunkingSupported": True,
                }
            )
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


def _split_top(text: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def select_columns(soql: str) -> tuple[list[str], str]:
    """The SELECT list (as written, functions unwrapped) and the FROM object of a query."""
    m = _SELECT.match(soql)
    if not m:
        raise ApiError(400, "MALFORMED_QUERY", "unexpected token: query must start with SELECT")
    columns = []
    for item in _split_top(m.group(1)):
        fn = re.fullmatch(r"\w+\s*\(\s*([\w.]+)\s*\)(\s+\w+)?", item)
        columns.append(fn.group(1) if fn else item.split()[0])
    return columns, m.group(2)


def validate_bulk_soql(soql: str) -> None:
    """Reject what Bulk API 2.0 query jobs do not support (documented list)."""
    m = _SELECT.match(soql)
    select_list = m.group(1) if m else ""
    if re.search(r"\(\s*SELECT\b", select_list, re.IGNORECASE):
        raise ApiError(400, "API_ERROR", "Aggregate Relationships not supported in Bulk Query")
    if re.search(r"\bFIELDS\s*\(", select_list, re.IGNORECASE):
        raise ApiError(400, "API_ERROR", "FIELDS() is not supported in Bulk Query")
    if _AGGREGATE.search(select_list) or re.search(r"\bGROUP\s+BY\b", soql, re.IGNORECASE):
        raise ApiError(400, "API_ERROR", "Aggregate queries are not supported in Bulk Query")
    for clause in ("OFFSET", "TYPEOF"):
        if re.search(rf"\b{clause}\b", soql, re.IGNORECASE):
            raise ApiError(400, "API_ERROR", f"{clause} is not supported in Bulk Query")


def locator(offset: int) -> str:
    """The Sforce-Locator of the results page starting at ``offset``."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def offset_of(value: str) -> int:
    """The results offset a Sforce-Locator stands for (400 INVALID_LOCATOR if none)."""
    try:
        return int(base64.b64decode(value + "=" * (-len(value) % 4)).decode())
    except ValueError as exc:
        raise ApiError(400, "INVALID_LOCATOR", f"Invalid locator: {value}") from exc
