"""The emulator's ASGI app: auth, the data API, Bulk APIs, Outbound Messages, the test API."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.emulator import auth, bulk1
from connector.emulator.auth import JwtKeys, auth_routes, require_user
from connector.emulator.bulk2 import Bulk2
from connector.emulator.errors import ApiError
from connector.emulator.faults import FaultInjector, FaultMiddleware
from connector.emulator.headers import SalesforceHeaders
from connector.emulator.org import Org
from connector.emulator.rest import VERSIONS, Call, RestApi, endpoint_name

__all__ = ["create_app"]

JSON = "application/json;charset=UTF-8"


def _error_response(err: ApiError, org: Org | None = None) -> Response:
    headers = dict(err.headers)
    if org is not None:
        headers["Sforce-Limit-Info"] = org.limit_info()
    # 300 MULTIPLE_CHOICES answers with the list of matching record URLs.
    body = orjson.dumps(err.message.split(",") if err.status == 300 else err.body())
    return Response(body, err.status, headers=headers, media_type=JSON)


def create_app(org: Org, *, jwt_keys: JwtKeys | None = None, outbound: Any = None) -> Starlette:
    """Build the ASGI app serving ``org``."""
    auth.register_org(org)
    faults = FaultInjector()
    api = RestApi(org, faults)

    async def versions(request: Request) -> Response:
        body = [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]
        return Response(orjson.dumps(body), 200, media_type=JSON)

    async def data(request: Request) -> Response:
        try:
            user = require_user(request)
            version = request.path_params["version"]
            path = request.path_params.get("rest", "")
            org.count_call(endpoint_name(path))
            raw = await request.body()
            body = orjson.loads(raw) if raw else None
            call = Call(
                # HEAD is GET without a body (the server drops it).
                method="GET" if request.method == "HEAD" else request.method,
                path=path,
                params=dict(request.query_params),
                body=body,
                user=user,
                version=version,
                headers={k.lower(): v for k, v in request.headers.items()},
            )
            status, out = await run_in_threadpool(api.dispatch, call)
        except ApiError as err:
            return _error_response(err, org)
        except orjson.JSONDecodeError:
            return _error_response(
                ApiError(400, "JSON_PARSER_ERROR", "Unexpected character: not valid JSON"), org
            )
        headers = {"Sforce-Limit-Info": org.limit_info()}
        if status == 204:
            return Response(status_code=204, headers=headers)
        return Response(orjson.dumps(out), status, headers=headers, media_type=JSON)

    routes: list[BaseRoute] = [
        *auth_routes(),
        Route("/services/data", versions),
        Route("/services/data/", versions),
    ]
    bulk = Bulk2(org, require_user)
    routes += bulk.routes()
    routes += bulk1.routes(org)
    if outbound is not None:
        from connector.emulator.outbound import outbound_routes

        routes += outbound_routes(outbound, require_user)
    routes += _test_api(org, api, faults, bulk)
    methods = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
    routes += [
        Route("/services/data/v{version}", data, methods=methods),
        Route("/services/data/v{version}/", data, methods=methods),
        Route("/services/data/v{version}/{rest:path}", data, methods=methods),
    ]

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc, org)

    app = Starlette(routes=routes, exception_handlers={ApiError: api_error})
    app.state.org = org
    app.state.jwt_keys = jwt_keys or JwtKeys()
    app.state.faults = faults
    app.state.api = api
    app.add_middleware(FaultMiddleware, faults=faults)
    # Added last, so outermost: faults get the limit header and the spelling too.
    app.add_middleware(SalesforceHeaders, limit_info=org.limit_info)
    return app


def _test_api(
    org: Org, api: RestApi, faults: FaultInjector, bulk: Bulk2
) -> list[BaseRoute]:
    """``/_emulator/``: stats, reset, faults, clock, sessions, purge. Never faulted."""

    def ok(body: Any) -> Response:
        return Response(orjson.dumps(body), 200, media_type=JSON)

    async def _json(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            raise ApiError(400, "JSON_PARSER_ERROR", "invalid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "expected a JSON object")
        return body

    async def stats(request: Request) -> Response:
        require_user(request)
        return ok(
            {
                "api_calls": org.api_used,
                "api_limit": org.api_limit,
                "by_endpoint": dict(org.by_endpoint),
                "faults": faults.state(),
                "records": {k: len(v) for k, v in org.store.items() if v},
                # Every Bulk API 2.0 job with the states it went through, in order.
                "bulk2_jobs": {j.id: list(j.states) for j in list(bulk.jobs.values())},
            }
        )

    async def reset(request: Request) -> Response:
        require_user(request)
        body = await _json(request)
        seed = str(body.get("seed", "empty"))
        if seed not in ("empty", "demo"):
            raise ApiError(400, "INVALID_INPUT", "seed must be empty or demo")
        records = int(body.get("records", 0))
        await run_in_threadpool(org.reset, seed, records)
        faults.configure({"rate": 0})
        if "api_limit" in body:
            org.api_limit = int(body["api_limit"])
        return ok({"reset": True, "seed": seed, "records": records})

    async def set_faults(request: Request) -> Response:
        require_user(request)
        return ok(faults.configure(await _json(request)))

    async def clock(request: Request) -> Response:
        require_user(request)
        body = await _json(request)
        now = org.set_clock(
            offset_seconds=body.get("offset_seconds"),
            freeze=body.get("freeze"),
        )
        return ok({"now": now})

    async def sessions(request: Request) -> Response:
        require_user(request)
        body = await _json(request)
        if "ttl_seconds" in body:
            org.session_ttl = float(body["ttl_seconds"])
        if body.get("expire_all"):
            org.expire_sessions()
        if body.get("expire_user"):
            org.expire_sessions(str(body["expire_user"]))
        return ok({"ttl_seconds": org.session_ttl})

    async def purge(request: Request) -> Response:
        require_user(request)
        body = await _json(request)
        return ok({"purged": org.purge([str(i) for i in body.get("ids", [])])})

    async def limits(request: Request) -> Response:
        require_user(request)
        body = await _json(request)
        if "api_limit" in body:
            org.api_limit = int(body["api_limit"])
        if "api_used" in body:
            org.api_used = int(body["api_used"])
        return ok({"api_used": org.api_used, "api_limit": org.api_limit})

    return [
        Route("/_emulator/stats", stats, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/faults", set_faults, methods=["POST"]),
        Route("/_emulator/clock", clock, methods=["POST"]),
        Route("/_emulator/sessions", sessions, methods=["POST"]),
        Route("/_emulator/purge", purge, methods=["POST"]),
        Route("/_emulator/limits", limits, methods=["POST"]),
    ]
