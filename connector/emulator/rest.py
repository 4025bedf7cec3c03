"""The REST data API (``/services/data/vNN.0/...``) as plain functions: (status, body).

``dispatch`` routes one request; the HTTP layer and ``composite`` subrequests both use it, so
a subrequest behaves exactly like the same call made on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from connector.emulator.access import visible_record
from connector.emulator.cursors import Cursors
from connector.emulator.describe import describe_global, describe_sobject
from connector.emulator.errors import ApiError
from connector.emulator.faults import FaultInjector
from connector.emulator.ids import is_valid_id
from connector.emulator.org import Org
from connector.emulator.values import _parse_datetime

__all__ = ["Call", "RestApi", "endpoint_name"]

VERSIONS = [f"{v}.0" for v in range(31, 63)]
NOT_FOUND = ApiError(404, "NOT_FOUND", "The requested resource does not exist")


@dataclass
class Call:
    """One API request in transport-neutral form."""

    method: str
    path: str  # after /services/data/vNN.0/
    params: dict[str, str]
    body: Any
    user: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)


def endpoint_name(path: str) -> str:
    """The stats bucket of a data API path (sobjects, query, composite/sobjects, ...)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "resources"
    if parts[0] == "composite":
        return "/".join(parts[:2])
    if (
        parts[0] == "sobjects"
        and len(parts) >= 3
        and parts[2] in ("describe", "updated", "deleted")
    ):
        return f"sobjects/{parts[2]}"
    return parts[0]


class RestApi:
    """The data API over one org."""

    def __init__(self, org: Org, faults: FaultInjector) -> None:
        self.org = org
        self.faults = faults
        self.cursors = Cursors(org.now_dt)

    # -- entry point -------------------------------------------------------------------------
    def dispatch(self, call: Call) -> tuple[int, Any]:
        """Route one call; ApiError propagates for the caller to render."""
        parts = [unquote(p) for p in call.path.split("/") if p]
        m = call.method
        if not parts:
            return 200, self._resources(call.version)
        head = parts[0]
        if head == "sobjects":
            return self._sobjects(call, parts[1:])
        if head in ("query", "queryAll") and m == "GET":
            if len(parts) > 1:
                return 200, self._more(call, parts[1])
            return 200, self._query(call, include_deleted=head == "queryAll")
        if head == "limits" and m == "GET":
            return 200, self._limits()
        if head == "composite":
            from connector.emulator.composite import composite_call

            return composite_call(self, call, parts[1:])
        raise NOT_FOUND

    def _resources(self, version: str) -> dict[str, str]:
        base = f"/services/data/v{version}"
        return {
            name: f"{base}/{name}"
            for name in (
                "sobjects",
                "query",
                "queryAll",
                "limits",
                "composite",
                "jobs/ingest",
                "jobs/query",
            )
        }

    # -- sobjects --------------------------------------------------------------------------
    def _sobjects(self, call: Call, rest: list[str]) -> tuple[int, Any]:
        org, m = self.org, call.method
        view = org.access.view(call.user)
        schema = org.schema if view is None else view.schema()
        if not rest:
            _allow(m, "GET")
            return 200, describe_global(schema, call.version)
        obj = org.object_or_404(rest[0])
        if view is not None:  # an object the user cannot read does not exist for them
            seen = view.describe(obj.name)
            if seen is None:
                raise NOT_FOUND
            obj = seen
        if len(rest) == 1:
            _allow(m, "GET", "POST")
            if m == "POST":
                rid = org.create(obj.name, _body_dict(call.body), call.user)
                return 201, {"id": rid, "success": True, "errors": []}
            described = describe_sobject(obj, schema, call.version)
            info = {
                k: v
                for k, v in described.items()
                if k not in ("fields", "childRelationships", "recordTypeInfos")
            }
            return 200, {"objectDescribe": info, "recentItems": []}
        second = rest[1]
        if len(rest) == 2 and second == "describe":
            _allow(m, "GET")
            return 200, describe_sobject(obj, schema, call.version)
        if len(rest) == 2 and second in ("updated", "deleted"):
            _allow(m, "GET")
            start = _param_datetime(call.params, "start")
            end = _param_datetime(call.params, "end")
            if second == "updated":
                return 200, org.updated(obj.name, start, end)
            return 200, org.deleted(obj.name, start, end)
        if len(rest) == 2 and second == "Id" and m == "POST":
            # POST sobjects/X/Id: an upsert on Id with a null value, that is a create.
            rid = org.create(obj.name, _body_dict(call.body), call.user)
            return 201, {"id": rid, "success": True, "errors": [], "created": True}
        if len(rest) == 2:
            _allow(m, "GET", "PATCH", "DELETE")
            rid = second
            if m == "GET":
                fields = call.params.get("fields")
                names = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
                for name in names or ():
                    if view is not None and obj.field(name) is None:
                        raise ApiError(400, "INVALID_FIELD",
                                       f"No such column '{name}' on sobject of type {obj.name}")
                if org.visible(call.user).get(rid) is None:  # not shared with a portal user
                    raise NOT_FOUND
                rec = visible_record(view, obj.name, org.fetch(obj.name, rid, names))
                return 200, self.shape(obj.name, rec, call.version)
            if m == "PATCH":
                org.update(obj.name, rid, _body_dict(call.body), call.user)
                return 204, None
            org.delete(obj.name, rid, call.user)
            return 204, None
        if len(rest) == 3:
            _allow(m, "GET", "PATCH", "POST", "DELETE")
            return self._by_external_id(call, obj.name, rest[1], rest[2])
        raise NOT_FOUND

    def _by_external_id(
        self, call: Call, sobject: str, ext_field: str, value: str
    ) -> tuple[int, Any]:
        """``sobjects/X/Field/value``: PATCH or POST upserts; GET and DELETE find by value."""
        org, m = self.org, call.method
        obj = org.object_or_404(sobject)
        if m in ("PATCH", "POST"):
            rid, created = org.upsert(
                obj.name,
                ext_field,
                value,
                _body_dict(call.body),
                call.user,
                update_only=_true(call.params.get("updateOnly")),
                api_version=call.version,
            )
            body = {"id": rid, "success": True, "errors": [], "created": created}
            return (201 if created else 200), body
        view = org.access.view(call.user)
        seen = obj if view is None else view.describe(obj.name)
        f = seen.field(ext_field) if seen is not None else None
        if f is None or not (f.external_id or f.id_lookup):
            raise NOT_FOUND
        if f.name == "Id":
            found = [{"Id": value}]
        else:
            found = org.query(
                f"SELECT Id FROM {obj.name} WHERE {f.name} = '{_soql_escape(value)}'",
                api_version=call.version,
            ).records
        if not found:
            raise NOT_FOUND
        if len(found) > 1:
            raise ApiError(
                300,
                "MULTIPLE_CHOICES",
                ",".join(
                    f"/services/data/v{call.version}/sobjects/{obj.name}/{r['Id']}" for r in found
                ),
            )
        if m == "DELETE":
            org.delete(obj.name, found[0]["Id"], call.user)
            return 204, None
        rec = visible_record(view, obj.name, org.fetch(obj.name, found[0]["Id"]))
        return 200, self.shape(obj.name, rec, call.version)

    def shape(self, sobject: str, rec: dict[str, Any], version: str) -> dict[str, Any]:
        """A record as GET sobjects/X/id returns it: attributes first, then the fields."""
        out: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{version}/sobjects/{sobject}/{rec['Id']}",
            }
        }
        out.update(rec)
        return out

    # -- query -----------------------------------------------------------------------------
    def _query(self, call: Call, *, include_deleted: bool) -> dict[str, Any]:
        soql = call.params.get("q")
        if not soql:
            raise ApiError(400, "MALFORMED_QUERY", "query string is required (parameter q)")
        if _true(call.params.get("columns")):
            return self._columns(soql, call.version, call.user)
        result = self.org.query(soql, include_deleted, api_version=call.version, user=call.user)
        batch = _batch_size(call.headers.get("sforce-query-options", ""))
        records = result.records
        if result.aggregate and not records:
            return {"totalSize": result.total_size, "done": True, "records": []}
        if len(records) <= batch:
            return {"totalSize": result.total_size, "done": True, "records": records}
        key = self.cursors.add(records, result.total_size)
        return self._page(call, key, 0, batch)

    def _columns(self, soql: str, version: str, user: str) -> dict[str, Any]:
        """``query?q=...&columns=true``: the query's columns, not its rows (as the Salesforce
        CLI's ``sf data query`` asks)."""
        from connector.emulator.columns import column_metadata

        return column_metadata(soql, self.org.visible(user), version, self.org.now_dt())

    def _more(self, call: Call, locator: str) -> dict[str, Any]:
        key, _, offset = locator.partition("-")
        if not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        batch = _batch_size(call.headers.get("sforce-query-options", ""))
        return self._page(call, key, int(offset), batch)

    def _page(self, call: Call, key: str, offset: int, batch: int) -> dict[str, Any]:
        cur = self.cursors.get(key)
        page = cur.records[offset : offset + batch]
        nxt = offset + len(page)
        body: dict[str, Any] = {
            "totalSize": cur.total,
            "done": nxt >= len(cur.records),
            "records": page,
        }
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{call.version}/query/{key}-{nxt}"
        return body

    # -- limits ----------------------------------------------------------------------------
    def _limits(self) -> dict[str, Any]:
        org = self.org

        def pair(mx: int, used: int = 0) -> dict[str, int]:
            return {"Max": mx, "Remaining": max(mx - used, 0)}

        return {
            "DailyApiRequests": pair(org.api_limit, org.api_used),
            "DailyBulkApiBatches": pair(15000),
            "DailyBulkV2QueryJobs": pair(10000),
            "DailyBulkV2QueryFileStorageMB": pair(976562),
            "DailyAsyncApexExecutions": pair(250000),
            "DataStorageMB": pair(1024),
            "FileStorageMB": pair(1024),
            "ConcurrentAsyncGetReportInstances": pair(200),
            "HourlyODataCallout": pair(10000),
            "SingleEmail": pair(5000),
        }


def _allow(method: str, *allowed: str) -> None:
    """405 for a method the resource does not take (HEAD goes wherever GET does)."""
    if method == "HEAD" and "GET" in allowed:
        return
    if method not in allowed:
        names = ",".join(("HEAD", *allowed) if "GET" in allowed else allowed)
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{method}' not allowed. Allowed are {names}",
            headers={"Allow": names},
        )


def _true(value: str | None) -> bool:
    return value is not None and value.lower() == "true"


def _body_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _batch_size(options: str) -> int:
    for part in options.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value), 200), 2000)
    return 2000


def _param_datetime(params: dict[str, str], name: str) -> datetime:
    value = params.get(name)
    if not value:
        raise ApiError(400, "MISSING_ARGUMENT", f"{name} parameter is required")
    try:
        return _parse_datetime(value)
    except ValueError:
        raise ApiError(400, "INVALID_REPLICATION_DATE", f"invalid {name}: {value}") from None


def _soql_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def split_url(url: str) -> tuple[str, str, dict[str, str]]:
    """(version, path after vNN.0/, query params) of a data API URL used in a subrequest."""
    parts = urlsplit(url)
    path = parts.path
    prefix = "/services/data/v"
    if not path.startswith(prefix):
        raise ApiError(400, "INVALID_INPUT", f"url must start with {prefix}: {url}")
    version, _, rest = path[len(prefix) :].partition("/")
    params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return version, rest, params


def looks_like_id(value: str) -> bool:
    """True when ``value`` has the form of a record id."""
    return is_valid_id(value)
