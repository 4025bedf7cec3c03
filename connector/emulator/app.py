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
from connector.emulator.auth import JwtKeys, auth_routes, require_admin, require_user
from connector.emulator.bodylimit import MAX_BODY_BYTES, BodyLimit
from connector.emulator.bulk2 import Bulk2
from connector.emulator.calllog import CallLog, CallLogMiddleware
from connector.emulator.errors import ApiError
from connector.emulator.faults import FaultInjector, FaultMiddleware
from connector.emulator.headers import SalesforceHeaders
from connector.emulator.org import Org
from connector.emulator.paths import CollapseSlashes
from connector.emulator.pubsub.bus import EventBus
from connector.emulator.pubsub.origin import OriginMiddleware
from connector.emulator.rest import VERSIONS, Call, RestApi, endpoint_name
from connector.emulator.testapi import test_api_routes

__all__ = ["create_app"]

JSON = "application/json;charset=UTF-8"


def _error_response(err: ApiError, org: Org | None = None) -> Response:
    headers = dict(err.headers)
    if org is not None:
        headers["Sforce-Limit-Info"] = org.limit_info()
    # 300 MULTIPLE_CHOICES answers with the list of matching record URLs.
    body = orjson.dumps(err.message.split(",") if err.status == 300 else err.body())
    return Response(body, err.status, headers=headers, media_type=JSON)


def create_app(
    org: Org,
    *,
    jwt_keys: JwtKeys | None = None,
    outbound: Any = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Starlette:
    """Build the ASGI app serving ``org``."""
    auth.register_org(org)
    faults = FaultInjector()
    bus = EventBus(org)  # change events for the Pub/Sub API (served by server.Emulator)
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

        routes += outbound_routes(outbound, require_admin)
    calls = CallLog()
    routes += test_api_routes(org, faults, bulk, calls, bus)
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
    app.state.pubsub_bus = bus
    app.add_middleware(FaultMiddleware, faults=faults)
    app.add_middleware(OriginMiddleware)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    app.add_middleware(CallLogMiddleware, log=calls)
    # Added last, so outermost: faults get the limit header and the spelling too.
    app.add_middleware(SalesforceHeaders, limit_info=org.limit_info)
    # Outermost of all: every layer below sees the path a real org would route.
    app.add_middleware(CollapseSlashes)
    return app
