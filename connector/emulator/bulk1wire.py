"""Bulk API 1.0 wire formats besides JSON: XML job requests, CSV and XML batches and results.

As the Bulk API 1.0 guide documents them: a ``jobInfo`` XML document creates or closes a job;
a CSV batch has a header row of field names (``#N/A`` sets a field to null, an empty cell
leaves it out); an XML batch is ``<sObjects><sObject><Field>value</Field>...``; results come
back in the job's format: CSV ``"Id","Success","Created","Error"``, or XML ``<results>``.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from xml.sax.saxutils import escape

from defusedxml import ElementTree

__all__ = [
    "ASYNC_NS",
    "CsvParseError",
    "parse_csv_records",
    "parse_job_xml",
    "parse_xml_records",
    "query_results_xml",
    "results_csv",
    "results_xml",
]

ASYNC_NS = "http://www.force.com/2009/06/asyncapi/dataload"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


class CsvParseError(ValueError):
    """A batch that is not the CSV or XML the job expects."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_job_xml(raw: bytes) -> dict[str, Any]:
    """A ``jobInfo`` document as a flat dict (``{"operation": "insert", ...}``)."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise CsvParseError(f"Failed to parse XML: {exc}") from exc
    if _local(root.tag) != "jobInfo":
        raise CsvParseError(f"Expected jobInfo, found {_local(root.tag)}")
    return {_local(child.tag): (child.text or "").strip() for child in root}


def parse_csv_records(raw: bytes) -> list[dict[str, Any]]:
    """CSV rows as records: empty cells left out, ``#N/A`` as null."""
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or not any(rows[0]):
        raise CsvParseError("the batch has no header row")
    header = [h.strip() for h in rows[0]]
    out: list[dict[str, Any]] = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell for cell in row):
            continue
        if len(row) != len(header):
            raise CsvParseError(f"row {n} has {len(row)} cells, the header {len(header)}")
        out.append({
            name: (None if cell == "#N/A" else cell)
            for name, cell in zip(header, row, strict=True) if cell != ""
        })
    return out


def parse_xml_records(raw: bytes) -> list[dict[str, Any]]:
    """``<sObjects><sObject>...`` as records (``xsi:nil="true"`` as null)."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise CsvParseError(f"Failed to parse XML: {exc}") from exc
    if _local(root.tag) != "sObjects":
        raise CsvParseError(f"Expected sObjects, found {_local(root.tag)}")
    records: list[dict[str, Any]] = []
    for item in root:
        rec: dict[str, Any] = {}
        for field in item:
            name = _local(field.tag)
            if name == "type":
                continue
            nil = field.get(f"{{{XSI}}}nil") == "true"
            rec[name] = None if nil else (field.text or "")
        records.append(rec)
    return records


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def _error_text(result: dict[str, Any]) -> str:
    return "; ".join(
        f"{e['statusCode']}:{e['message']}:{'--'.join(e.get('fields') or [])}--"
        for e in result.get("errors") or []
    )


def results_csv(results: list[dict[str, Any]]) -> str:
    """DML batch results as Bulk 1.0 CSV."""
    rows = [["Id", "Success", "Created", "Error"]]
    rows += [
        [r.get("id") or "", "true" if r["success"] else "false",
         "true" if r.get("created") else "false", _error_text(r)]
        for r in results
    ]
    return _csv(rows)


def results_xml(results: list[dict[str, Any]]) -> str:
    """DML batch results as Bulk 1.0 XML."""
    parts = []
    for r in results:
        errors = "".join(
            "<errors>"
            + "".join(f"<fields>{escape(f)}</fields>" for f in e.get("fields") or [])
            + f"<message>{escape(str(e['message']))}</message>"
            f"<statusCode>{escape(str(e['statusCode']))}</statusCode></errors>"
            for e in r.get("errors") or []
        )
        rid = f"<id>{escape(r['id'])}</id>" if r.get("id") else "<id/>"
        parts.append(
            f"<result>{errors}{rid}<success>{'true' if r['success'] else 'false'}</success>"
            f"<created>{'true' if r.get('created') else 'false'}</created></result>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><results xmlns="{ASYNC_NS}">'
        f'{"".join(parts)}</results>'
    )


def _value_xml(name: str, value: Any) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    if isinstance(value, dict):
        inner = "".join(_value_xml(k, v) for k, v in value.items() if k != "attributes")
        kind = escape(str((value.get("attributes") or {}).get("type", "")))
        return f'<{name} xsi:type="sObject"><type>{kind}</type>{inner}</{name}>'
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def query_results_xml(sobject: str, records: list[dict[str, Any]]) -> str:
    """Query results as Bulk 1.0 XML (``<queryResult><records xsi:type="sObject">``)."""
    body = "".join(
        f'<records xsi:type="sObject"><type>{escape(sobject)}</type>'
        + "".join(_value_xml(k, v) for k, v in rec.items() if k != "attributes")
        + "</records>"
        for rec in records
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{ASYNC_NS}" '
        f'xmlns:xsi="{XSI}">{body}</queryResult>'
    )
