"""sObject Collections, ``composite`` (references between subrequests) and ``composite/batch``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from connector.emulator.errors import ApiError
from connector.emulator.faults import fault_error
from connector.emulator.ids import normalize

if TYPE_CHECKING:
    from connector.emulator.rest import Call, RestApi

__all__ = ["composite_call"]

MAX_COLLECTION = 200
MAX_SUBREQUESTS = 25
MAX_GRAPH_NODES = 500
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}
_REF = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")


class _RollBack(Exception):
    pass


def composite_call(api: RestApi, call: Call, rest: list[str]) -> tuple[int, Any]:
    """Route ``composite/...``."""
    if not rest and call.method == "POST":
        return 200, _composite(api, call)
    if rest == ["batch"] and call.method == "POST":
        return 200, _batch(api, call)
    if rest and rest[0] == "sobjects":
        return _collections(api, call, rest[1:])
    if rest == ["graph"] and call.method == "POST":
        return 200, _graph(api, call)
    if len(rest) == 2 and rest[0] == "tree" and call.method == "POST":
        from connector.emulator.sobjecttree import create_tree

        return create_tree(api.org, rest[1], call.body, call.user)
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


# -- collections ----------------------------------------------------------------------------
def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _collections(api: RestApi, call: Call, rest: list[str]) -> tuple[int, Any]:
    m = call.method
    if m == "GET" and len(rest) == 1:
        ids = [i for i in call.params.get("ids", "").split(",") if i]
        names = [f for f in call.params.get("fields", "").split(",") if f]
        return 200, _retrieve(api, call, rest[0], ids, names)
    if m == "POST" and len(rest) == 1:
        # Retrieve by POST: the ids travel in the body, so up to 2,000 fit in one call.
        body = _body(call)
        posted_ids, posted_names = body.get("ids"), body.get("fields")
        if not (isinstance(posted_ids, list) and isinstance(posted_names, list)
                and _strings(posted_ids) and _strings(posted_names)):
            raise ApiError(400, "JSON_PARSER_ERROR", "ids and fields must be lists of strings")
        return 200, _retrieve(api, call, rest[0], posted_ids, posted_names)
    if m == "DELETE" and not rest:
        ids = [i for i in call.params.get("ids", "").split(",") if i]
        _limit(len(ids))
        ops: list[tuple[Any, str | None]] = [(None, rid) for rid in ids]
        return 200, _run(
            api,
            ops,
            _flag(call.params.get("allOrNone")),
            lambda _r, rid: _delete(api, call, str(rid)),
        )
    body = call.body if isinstance(call.body, dict) else {}
    records = body.get("records")
    if not isinstance(records, list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must have a records list")
    _limit(len(records))
    all_or_none = _flag(body.get("allOrNone"))
    rec_ops: list[tuple[Any, str | None]] = [(r, None) for r in records]
    if m == "POST" and not rest:
        return 200, _run(api, rec_ops, all_or_none, lambda r, _i: _create(api, call, r))
    if m == "PATCH" and not rest:
        return 200, _run(api, rec_ops, all_or_none, lambda r, _i: _update(api, call, r))
    if m == "PATCH" and len(rest) == 2:
        sobject, ext = rest
        return 200, _run(
            api, rec_ops, all_or_none, lambda r, _i: _upsert(api, call, sobject, ext, r)
        )
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


MAX_RETRIEVE = 2000


def _body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return call.body


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _retrieve(
    api: RestApi, call: Call, sobject: str, ids: list[str], names: list[str]
) -> list[Any]:
    """Records by id with the named fields, in request order; null where none is found."""
    obj = api.org.object_or_404(sobject)
    if not names:
        raise ApiError(400, "MISSING_ARGUMENT", "fields parameter is required")
    if len(ids) > MAX_RETRIEVE:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"cannot retrieve more than {MAX_RETRIEVE} ids")
    out: list[Any] = []
    for rid in ids:
        try:
            out.append(api.shape(obj.name, api.org.fetch(obj.name, rid, names), call.version))
        except ApiError as err:
            if err.code == "INVALID_FIELD":
                raise
            out.append(None)
    return out


def _limit(n: int) -> None:
    if n > MAX_COLLECTION:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COLLECTION} records "
            "into this call",
        )


def _type_of(record: Any) -> str:
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
    attrs = record.get("attributes") or {}
    sobject = attrs.get("type") if isinstance(attrs, dict) else None
    if not sobject:
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    return str(sobject)


def _fields(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}


def _create(api: RestApi, call: Call, record: Any) -> dict[str, Any]:
    sobject = _type_of(record)
    if record.get("id") or record.get("Id"):
        raise ApiError(400, "INVALID_FIELD", "cannot specify Id in an insert call", fields=["Id"])
    return {
        "id": api.org.create(sobject, _fields(record), call.user),
        "success": True,
        "errors": [],
    }


def _update(api: RestApi, call: Call, record: Any) -> dict[str, Any]:
    sobject = _type_of(record)
    rid = record.get("id") or record.get("Id")
    if not rid:
        raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
    api.org.update(sobject, str(rid), _fields(record), call.user)
    return {"id": normalize(str(rid)), "success": True, "errors": []}


def _upsert(api: RestApi, call: Call, sobject: str, ext: str, record: Any) -> dict[str, Any]:
    _type_of(record)
    obj = api.org.object_or_404(sobject)
    f = obj.field(ext)
    value = None
    for k, v in record.items():
        if k.lower() == ext.lower():
            value = v
    if f is None or value is None:
        raise ApiError(400, "MISSING_ARGUMENT", f"{ext} not specified")
    body = {k: v for k, v in _fields(record).items() if k.lower() != ext.lower()}
    rid, created = api.org.upsert(
        obj.name, f.name, str(value), body, call.user, api_version=call.version
    )
    return {"id": rid, "success": True, "errors": [], "created": created}


def _delete(api: RestApi, call: Call, rid: str) -> dict[str, Any]:
    sobject = api.org.sobject_of(rid)
    if sobject is None:
        raise ApiError(400, "MALFORMED_ID", f"malformed id {rid}")
    api.org.delete(sobject, rid, call.user)
    return {"id": normalize(rid), "success": True, "errors": []}


def _failure(err: ApiError, rid: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"success": False, "errors": [err.collection_error()]}
    if rid:
        out["id"] = rid
    return out


def _run(
    api: RestApi,
    ops: list[tuple[Any, str | None]],
    all_or_none: bool,
    fn: Callable[[Any, str | None], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Apply ``fn`` to each op; allOrNone rolls everything back on the first failure."""
    results: list[dict[str, Any]] = []
    failed = False
    try:
        with api.org.atomic():
            for record, rid in ops:
                try:
                    if api.faults.lock_record():
                        raise fault_error("UNABLE_TO_LOCK_ROW")
                    if all_or_none:
                        with api.org.atomic():
                            results.append(fn(record, rid))
                    else:
                        results.append(_isolated(api, fn, record, rid))
                except ApiError as err:
                    failed = True
                    results.append(_failure(err, rid))
            if all_or_none and failed:
                raise _RollBack
    except _RollBack:
        # Nothing was saved: rows that had succeeded carry no id (there is no such record).
        return [
            r if not r["success"] else {"success": False, "errors": [ROLLED_BACK]}
            for r in results
        ]
    return results


def _isolated(
    api: RestApi, fn: Callable[[Any, str | None], dict[str, Any]], record: Any, rid: str | None
) -> dict[str, Any]:
    """One record in its own savepoint: its failure leaves no partial change behind."""
    with api.org.savepoint():
        return fn(record, rid)


# -- composite -------------------------------------------------------------------------------
def _resolve(value: Any, results: dict[str, Any]) -> Any:
    """Replace @{ref.path} in strings anywhere inside ``value``."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            ref, path = m.group(1), m.group(2)
            if ref not in results:
                raise ApiError(400, "INVALID_INPUT", f"unknown reference {ref}")
            cur: Any = results[ref]
            for part in re.findall(r"[^.\[\]]+", path):
                cur = cur[int(part)] if isinstance(cur, list) else cur[part]
            return str(cur)

        return _REF.sub(sub, value)
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    return value


def _subcall(api: RestApi, call: Call, method: str, url: str, body: Any) -> tuple[int, Any]:
    from connector.emulator.rest import Call as _Call
    from connector.emulator.rest import split_url

    version, path, params = split_url(url)
    sub = _Call(
        method=method.upper(),
        path=path,
        params=params,
        body=body,
        user=call.user,
        version=version,
        headers=call.headers,
    )
    return api.dispatch(sub)


HALTED = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same "
    "transaction failed.",
}


def _halted(ref: str) -> dict[str, Any]:
    return {"body": [dict(HALTED)], "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref}


def _all_or_none_body(method: str, url: str, body: Any) -> tuple[str, Any]:
    """An outer allOrNone applies to sObject Collections subrequests too (overriding theirs)."""
    if "/composite/sobjects" not in url:
        return url, body
    if method.upper() == "DELETE":
        sep = "&" if "?" in url else "?"
        return f"{url}{sep}allOrNone=true", body
    if isinstance(body, dict):
        return url, {**body, "allOrNone": True}
    return url, body


def run_composite(
    api: RestApi, call: Call, subs: Any, all_or_none: bool, *, limit: int = MAX_SUBREQUESTS
) -> list[dict[str, Any]]:
    """The ``compositeResponse`` list for ``subs`` (``composite`` and each ``composite/graph``).

    With allOrNone, the first failure stops the request and rolls everything back; the failed
    subrequest keeps its error and every other one, those that ran before it included,
    answers 400 PROCESSING_HALTED.
    """
    if not isinstance(subs, list) or not subs:
        raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest is required")
    if len(subs) > limit:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Limit Exceeded: composite request limit is {limit}")
    if not all(isinstance(sub, dict) for sub in subs):
        raise ApiError(400, "JSON_PARSER_ERROR", "each subrequest must be a JSON object")
    results: dict[str, Any] = {}
    responses: list[dict[str, Any]] = []
    failed_at: int | None = None
    try:
        with api.org.atomic():
            for i, sub in enumerate(subs):
                ref = str(sub.get("referenceId", ""))
                method = str(sub.get("method", "GET"))
                try:
                    url = _resolve(str(sub.get("url", "")), results)
                    body = _resolve(sub.get("body"), results)
                    if all_or_none:
                        url, body = _all_or_none_body(method, url, body)
                    status, out = _subcall(api, call, method, url, body)
                    results[ref] = out
                    responses.append(
                        {"body": out, "httpHeaders": _headers(status, out, url),
                         "httpStatusCode": status, "referenceId": ref}
                    )
                    if all_or_none and _has_failed_row(out):
                        # A Collections subrequest answers 200 with failed rows inside.
                        failed_at = i
                        break
                except ApiError as err:
                    responses.append(
                        {"body": err.body(), "httpHeaders": {}, "httpStatusCode": err.status,
                         "referenceId": ref}
                    )
                    if all_or_none:
                        failed_at = i
                        break
            if failed_at is not None:
                raise _RollBack
    except _RollBack:
        refs = [str(sub.get("referenceId", "")) for sub in subs]
        return [
            responses[i] if i == failed_at else _halted(ref) for i, ref in enumerate(refs)
        ]
    return responses


def _has_failed_row(out: Any) -> bool:
    return isinstance(out, list) and any(
        isinstance(r, dict) and r.get("success") is False for r in out
    )


def _headers(status: int, out: Any, url: str) -> dict[str, str]:
    """A created record's subresponse names its URL in Location, as the call alone would."""
    if status != 201 or not isinstance(out, dict) or not isinstance(out.get("id"), str):
        return {}
    path = url.split("?", 1)[0].rstrip("/")
    parts = path.split("/")
    if len(parts) >= 2 and parts[-2] == "sobjects":
        return {"Location": f"{path}/{out['id']}"}
    return {}


def _composite(api: RestApi, call: Call) -> dict[str, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    responses = run_composite(
        api, call, body.get("compositeRequest"), _flag(body.get("allOrNone"))
    )
    return {"compositeResponse": responses}


MAX_GRAPHS = 75


def _graph(api: RestApi, call: Call) -> dict[str, Any]:
    """``composite/graph``: each graph is a composite request that succeeds or rolls back as
    a whole, independently of the other graphs."""
    body = call.body if isinstance(call.body, dict) else {}
    graphs = body.get("graphs")
    if not isinstance(graphs, list) or not graphs or len(graphs) > MAX_GRAPHS:
        raise ApiError(400, "INVALID_INPUT", f"graphs must list 1 to {MAX_GRAPHS} graphs")
    out: list[dict[str, Any]] = []
    for graph in graphs:
        if not isinstance(graph, dict) or not graph.get("graphId"):
            raise ApiError(400, "INVALID_INPUT", "each graph needs a graphId")
        responses = run_composite(api, call, graph.get("compositeRequest"), True,
                                  limit=MAX_GRAPH_NODES)
        ok = all(200 <= r["httpStatusCode"] < 300 and not _has_failed_row(r["body"])
                 for r in responses)
        out.append({"graphId": str(graph["graphId"]),
                    "graphResponse": {"compositeResponse": responses}, "isSuccessful": ok})
    return {"graphs": out}


def _batch(api: RestApi, call: Call) -> dict[str, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    subs = body.get("batchRequests")
    if not isinstance(subs, list) or not subs:
        raise ApiError(400, "JSON_PARSER_ERROR", "batchRequests is required")
    if len(subs) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", "Limit Exceeded: batch request limit is 25")
    halt = _flag(body.get("haltOnError"))
    out: list[dict[str, Any]] = []
    errors = False
    for sub in subs:
        if errors and halt:
            out.append(
                {
                    "statusCode": 412,
                    "result": [
                        {
                            "errorCode": "BATCH_PROCESSING_HALTED",
                            "message": "Batch processing halted per request",
                        }
                    ],
                }
            )
            continue
        url = str(sub.get("url", ""))
        if not url.startswith("/services/data/"):
            url = (
                f"/services/data/v{call.version}/{url.lstrip('/').split('/', 1)[-1]}"
                if (url.lstrip("/").startswith("v"))
                else f"/services/data/v{call.version}/{url}"
            )
        try:
            status, result = _subcall(
                api, call, str(sub.get("method", "GET")), url, sub.get("richInput")
            )
            out.append({"statusCode": status, "result": result})
        except ApiError as err:
            errors = True
            out.append({"statusCode": err.status, "result": err.body()})
    return {"hasErrors": errors, "results": out}


def dumps(value: Any) -> bytes:
    """JSON for a response body."""
    return orjson.dumps(value)
