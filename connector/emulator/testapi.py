"""The test API under ``/_emulator/``: stats, calls, reset, faults, clock, sessions, purge,
limits.

Only the org's admin user may call it (the integration and partner users get 403
INSUFFICIENT_ACCESS): it can wipe the org. Input is checked; a bad value answers 400
INVALID_INPUT naming the field. Never faulted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.emulator.auth import require_admin
from connector.emulator.errors import ApiError

if TYPE_CHECKING:
    from connector.emulator.bulk2 import Bulk2
    from connector.emulator.calllog import CallLog
    from connector.emulator.faults import FaultInjector
    from connector.emulator.org import Org
    from connector.emulator.pubsub.bus import EventBus

__all__ = ["MAX_RESET_RECORDS", "test_api_routes"]

JSON = "application/json;charset=UTF-8"
MAX_RESET_RECORDS = 10_000_000
Handler = Callable[[Request], Awaitable[Response]]


def _bad(name: str, what: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", f"{name} must be {what}", fields=[name])


def _int(body: dict[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(name, f"an integer from {lo} to {hi}")
    return value


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise _bad(name, "a number")
    return float(value)


def _bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _bad(name, "true or false")
    return value


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise ApiError(400, "JSON_PARSER_ERROR", "invalid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "expected a JSON object")
    return body


def _ok(body: Any) -> Response:
    return Response(orjson.dumps(body), 200, media_type=JSON)


def _admin_only(fn: Handler) -> Handler:
    async def handler(request: Request) -> Response:
        require_admin(request)
        try:
            return await fn(request)
        except (ValueError, TypeError) as err:  # anything the checks above let through
            raise ApiError(400, "INVALID_INPUT", str(err)) from None

    return handler


def test_api_routes(
    org: Org, faults: FaultInjector, bulk: Bulk2, calls: CallLog, bus: EventBus | None = None
) -> list[BaseRoute]:
    """The ``/_emulator/`` routes over ``org``."""

    async def stats(request: Request) -> Response:
        return _ok(
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
        body = await _json(request)
        seed = body.get("seed", "empty")
        if seed not in ("empty", "demo"):
            raise _bad("seed", "empty or demo")
        records = _int(body, "records", 0, 0, MAX_RESET_RECORDS)
        api_limit = _int(body, "api_limit", org.api_limit, 0, 10**12)
        # Built off the org's lock in a worker thread: other requests carry on meanwhile.
        await run_in_threadpool(org.reset, seed, records)
        faults.configure({"rate": 0})
        org.api_limit = api_limit
        return _ok({"reset": True, "seed": seed, "records": records})

    async def set_faults(request: Request) -> Response:
        body = await _json(request)
        # {"pubsub": {...}} sets the Pub/Sub API's faults (see pubsub.bus.EventBus.configure);
        # alone, it leaves the REST faults as they are.
        pubsub = body.pop("pubsub", None)
        if pubsub is not None and (bus is None or not isinstance(pubsub, dict)):
            raise _bad("pubsub", "an object")
        out = faults.configure(body) if body or pubsub is None else faults.state()
        if bus is not None:
            out["pubsub"] = bus.configure(pubsub) if pubsub is not None else bus.state()
        return _ok(out)

    async def clock(request: Request) -> Response:
        body = await _json(request)
        now = org.set_clock(offset_seconds=_number(body, "offset_seconds"),
                            freeze=_bool(body, "freeze"))
        return _ok({"now": now})

    async def sessions(request: Request) -> Response:
        body = await _json(request)
        ttl = _number(body, "ttl_seconds")
        if ttl is not None:
            org.session_ttl = ttl
        if _bool(body, "expire_all"):
            org.expire_sessions()
        if body.get("expire_user"):
            org.expire_sessions(str(body["expire_user"]))
        return _ok({"ttl_seconds": org.session_ttl})

    async def purge(request: Request) -> Response:
        body = await _json(request)
        ids = body.get("ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _bad("ids", "a list of record ids")
        return _ok({"purged": org.purge(ids)})

    async def limits(request: Request) -> Response:
        body = await _json(request)
        org.api_limit = _int(body, "api_limit", org.api_limit, 0, 10**12)
        org.api_used = _int(body, "api_used", org.api_used, 0, 10**12)
        return _ok({"api_used": org.api_used, "api_limit": org.api_limit})

    async def call_log(request: Request) -> Response:
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            raise _bad("since", "a non-negative integer")
        return _ok({"calls": calls.calls(int(since))})

    table: list[tuple[str, Handler, str]] = [
        ("calls", call_log, "GET"),
        ("stats", stats, "GET"),
        ("reset", reset, "POST"),
        ("faults", set_faults, "POST"),
        ("clock", clock, "POST"),
        ("sessions", sessions, "POST"),
        ("purge", purge, "POST"),
        ("limits", limits, "POST"),
    ]
    return [Route(f"/_emulator/{name}", _admin_only(fn), methods=[m]) for name, fn, m in table]
