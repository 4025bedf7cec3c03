"""The operations page: Starlette routes over the read layer, Jinja2 templates (autoescaped),
a JSON twin of every page, and the operator's actions (retry, drop, bulk retry) audited."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.errors import ConfigError
from connector.web import read
from connector.web.auth import COOKIE, Identity, OpsAuth, same_origin
from connector.web.charts import bars, sparkline

__all__ = ["BASE", "create_ops_app"]

BASE = "/ops"
HERE = Path(__file__).resolve().parent
PAGE_SIZES = (25, 50, 100, 200)
REFRESH_SECONDS = 15
BULK_CHUNK = 5000  # ids per statement of a bulk retry (SQLite binds at most 32766)
AUDIT_IDS = 1000  # item ids a bulk retry's audit row keeps (the count is always there)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
NAV = [("", "Overview"), ("/runs", "Objects and runs"), ("/outbox", "Outbox"),
       ("/dead", "Dead letters"), ("/decisions", "Decisions"), ("/partners", "Partners"),
       ("/rules", "Rules"), ("/programs", "Programs"), ("/audit", "Audit")]


class _SecurityHeaders:
    """Strict CSP and friends on every response of the page (errors and static files too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    h for h in SECURITY_HEADERS if h[0] not in names]
            await send(message)

        await self.app(scope, receive, with_headers)


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str,
                                                        ensure_ascii=False)
    return env


def _when(value: Any) -> str:
    """A timestamp as 2026-12-07 22:15:03 UTC (full width: no cut cursors)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if value.tzinfo else "")
    return str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} days"


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                   ) -> Response:
    # serialised as the CLI's --json is (json.dumps, default=str), so the two compare equal
    return Response(json.dumps(data, default=str, indent=2), status,
                    media_type="application/json", headers=headers)


def _int(value: str | None, default: int, *, low: int = 1, high: int = 1000) -> int:
    try:
        n = int(value) if value not in (None, "") else default
    except ValueError:
        return default
    return min(max(n, low), high)


Handler = Callable[[Request, Identity], Awaitable[Response]]


def create_ops_app(
    src: read.OpsSource, auth: OpsAuth, *, base: str = BASE, standalone: bool = False
) -> ASGIApp:
    """The page's ASGI app, to mount at ``base`` (``/ops``); ``standalone`` adds ``/`` ->
    ``/ops/`` and serves it from the root (the `ops` command)."""
    env = _environment()

    def render(request: Request, who: Identity, template: str, status: int = 200,
               **context: Any) -> Response:
        body = env.get_template(template).render(
            base=base, nav=NAV, who=who, csrf=auth.csrf(who.session), path=request.url.path,
            query=dict(request.query_params), token_required=auth.token is not None,
            **context)
        return HTMLResponse(body, status)

    def identify(request: Request) -> Identity | None:
        return auth.identify(
            client=request.client.host if request.client else None,
            host=request.headers.get("host"),
            authorization=request.headers.get("authorization"),
            cookie=request.cookies.get(COOKIE),
        )

    def refused(request: Request) -> Response:
        if auth.token is None:
            return Response("the operations page serves loopback only (set ops.token in "
                            "connector.yaml to serve it elsewhere)\n", 403,
                            media_type="text/plain")
        if wants_json(request) or request.method != "GET":
            return _json_response({"error": "authentication required: send "
                                   "Authorization: Bearer <ops.token>"}, 401,
                                  {"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{base}/login?{urlencode({'next': target})}", 303)

    def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            who = identify(request)
            if who is None:
                return refused(request)
            return await handler(request, who)
        return endpoint

    def action(handler: Callable[[Request, Identity, dict[str, str]], Awaitable[Response]]
               ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            who = identify(request)
            if who is None:
                return refused(request)
            form = {k: str(v) for k, v in (await request.form()).items()}
            if who.ambient:
                if not same_origin(request.headers.get("origin"),
                                   request.headers.get("referer"),
                                   request.headers.get("host")):
                    return _problem(request, who, 403, "refused: the request did not come "
                                    "from this page (Origin check)")
                if not auth.csrf_ok(who.session, form.get("csrf")):
                    return _problem(request, who, 403, "refused: the form's CSRF token is "
                                    "missing or stale; reload the page and try again")
            return await handler(request, who, form)
        return endpoint

    def _problem(request: Request, who: Identity, status: int, message: str) -> Response:
        if wants_json(request):
            return _json_response({"error": message}, status)
        return render(request, who, "problem.html", status, title="Refused", message=message)

    async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(fn, *args)

    def reading(fn: Callable[..., Any]) -> Callable[[], Any]:
        def run() -> Any:
            with src.connect() as conn:
                return fn(conn)
        return run

    # --- pages --------------------------------------------------------------------------------
    async def overview_page(request: Request, who: Identity) -> Response:
        def get(conn: Any) -> Any:
            return read.overview(src, conn), read.runs_page(conn, limit=20)["runs"]
        data, runs = await in_thread(reading(get))
        if wants_json(request):
            return _json_response(data)
        now = src.clock()
        for o in data["objects"]:
            o["lag"] = read.lag_seconds(o["cursor"], now)
        syncs = [r for r in runs if r["kind"] == "sync"][::-1]
        def stage(run: dict[str, Any], name: str, key: str) -> int:
            stages = (run.get("counts") or {}).get("stages") or {}
            return int((stages.get(name) or {}).get(key) or 0)

        charts = {
            "changes": sparkline([int((r.get("counts") or {}).get("changes") or 0)
                                  for r in syncs], "changes per cycle"),
            "fired": sparkline([stage(r, "triggers", "fired") for r in syncs],
                               "firings per cycle"),
            "written": sparkline([stage(r, "outbox", "written") for r in syncs],
                                 "records written to Salesforce per cycle"),
            "dead": sparkline([stage(r, "outbox", "dead") for r in syncs],
                              "writes dead-lettered per cycle"),
            # recorded as each run ended (service.runs.gauges); older runs have none
            "lag": sparkline([float((r.get("counts") or {}).get("max_lag_s") or 0)
                              for r in syncs], "largest cursor lag in seconds at each cycle's end"),
            "depth": sparkline([int((r.get("counts") or {}).get("outbox_pending") or 0)
                                for r in syncs], "outbox items pending at each cycle's end"),
        }
        usage = data["api"]
        budget = src.settings.salesforce.api_budget
        api = None
        if usage and usage.get("max"):
            share = float(usage["used"]) / float(usage["max"])
            api = {"used": usage["used"], "max": usage["max"], "share": share,
                   "budget": budget, "over": share >= budget, "calls": usage.get("calls")}
        running = await in_thread(src.daemon_running)
        return render(request, who, "overview.html", title="Overview", data=data, runs=runs[:10],
                      charts=charts, api=api, running=running,
                      refresh=REFRESH_SECONDS if running else None)

    async def runs_view(request: Request, who: Identity) -> Response:
        q = request.query_params
        kind = q.get("kind") or None
        limit = _int(q.get("limit"), 50, high=500)
        data = await in_thread(reading(lambda c: {
            **read.runs_page(c, kind=kind, limit=limit, before=q.get("before") or None),
            "objects": read.objects(src, c)}))
        if wants_json(request):
            return _json_response(data)
        return render(request, who, "runs.html", title="Objects and runs", data=data,
                      kind=kind, limit=limit)

    def outbox_filters(q: Any) -> dict[str, str | None]:
        filters = {k: (q.get(k) or "").strip() or None for k in read.OUTBOX_FILTERS}
        if filters["status"] not in (None, *_statuses()):
            filters["status"] = None
        return filters

    async def outbox_view(request: Request, who: Identity) -> Response:
        q = request.query_params
        filters = outbox_filters(q)
        limit = _int(q.get("limit"), 100, high=500)
        data = await in_thread(reading(
            lambda c: read.outbox_page(c, filters, limit=limit, after=q.get("after") or None)))
        nxt = data["next"]
        link = {}
        if nxt:
            params = {**{k: v for k, v in filters.items() if v}, "limit": limit, "after": nxt}
            link = {"Link": f'<{base}/outbox?{urlencode(params)}>; rel="next"'}
        if wants_json(request):  # = `outbox list --json`; the next page in the Link header
            return _json_response({"summary": data["summary"], "items": data["items"]},
                                  headers=link)
        keep = {k: v for k, v in filters.items() if v}
        return render(request, who, "outbox.html", title="Outbox", data=data, filters=filters,
                      keep=keep, limit=limit, page_sizes=PAGE_SIZES, statuses=_statuses(),
                      next_url=f"{base}/outbox?{urlencode({**keep, 'limit': limit, 'after': nxt})}"
                      if nxt else None, notice=q.get("notice"))

    async def dead_view(request: Request, who: Identity) -> Response:
        groups = await in_thread(reading(read.dead_groups))
        if wants_json(request):
            return _json_response(groups)
        return render(request, who, "dead.html", title="Dead letters", groups=groups)

    async def decisions_view(request: Request, who: Identity) -> Response:
        q = request.query_params
        rule, record = q.get("rule") or None, q.get("record") or None
        limit = _int(q.get("limit"), 50, high=500)
        rows, found = await in_thread(reading(lambda c: (
            read.decisions(c, rule=rule, record=record, limit=limit),
            read.conflicts(c, limit=50))))
        if wants_json(request):  # = `triggers log --json`
            return _json_response(rows)
        return render(request, who, "decisions.html", title="Decisions and conflicts",
                      rows=rows, conflicts=found, rule=rule, record=record, limit=limit)

    async def conflicts_view(request: Request, who: Identity) -> Response:
        limit = _int(request.query_params.get("limit"), 100, high=500)
        found = await in_thread(reading(lambda c: read.conflicts(c, limit=limit)))
        if wants_json(request):  # = `outbox conflicts --json`
            return _json_response(found)
        return render(request, who, "conflicts.html", title="Conflicts", conflicts=found)

    async def partners_view(request: Request, who: Identity) -> Response:
        ref = (request.query_params.get("q") or "").strip()
        if ref:
            return RedirectResponse(f"{base}/partners/{_quote(ref)}", 303)
        rows = await in_thread(reading(read.partner_list))
        if wants_json(request):
            return _json_response(rows)
        return render(request, who, "partners.html", title="Partners", partners=rows)

    async def partner_view(request: Request, who: Identity) -> Response:
        from connector.programs.operations import UnknownName

        ref = request.path_params["ref"]
        try:
            report, eligible = await in_thread(reading(lambda c: (
                read.partner_show(src, c, ref), read.partner_eligible(src, c, ref))))
        except UnknownName as err:
            return _not_found(request, who, str(err))
        if wants_json(request):  # = `partner show --json`
            return _json_response(report)
        return render(request, who, "partner.html", title=f"Partner {report['partner']['name']}",
                      report=report, eligible=eligible)

    async def eligible_view(request: Request, who: Identity) -> Response:
        from connector.programs.operations import UnknownName

        ref = request.path_params["ref"]
        try:
            data = await in_thread(reading(lambda c: read.partner_eligible(src, c, ref)))
        except UnknownName as err:
            return _not_found(request, who, str(err))
        if wants_json(request):  # = `partner eligible --json`
            return _json_response(data)
        return RedirectResponse(f"{base}/partners/{_quote(ref)}#eligible", 303)

    def _not_found(request: Request, who: Identity, message: str) -> Response:
        if wants_json(request):
            return _json_response({"error": message}, 404)
        return render(request, who, "problem.html", 404, title="Not found", message=message)

    async def rules_view(request: Request, who: Identity) -> Response:
        data = await in_thread(reading(lambda c: read.rules_page(src, c)))
        if wants_json(request):  # = `triggers list --json` (the counts are on the overview)
            return _json_response([{k: v for k, v in r.items() if k not in ("stats", "per_day")}
                                   for r in data["rules"]])
        since = (src.clock().date() - timedelta(days=90)).isoformat()
        charts = {r["id"]: sparkline(r["per_day"], f"{r['id']}: firings per day, last "
                                     f"{data['days']} days", width=120, height=24)
                  for r in data["rules"]}
        return render(request, who, "rules.html", title="Rules", data=data, since=since,
                      charts=charts)

    async def try_view(request: Request, who: Identity) -> Response:
        q = request.query_params
        draft = q.get("draft") or ""
        since_text = q.get("since") or (src.clock().date() - timedelta(days=90)).isoformat()
        result, problem = None, None
        if draft.strip():
            try:
                since = date.fromisoformat(since_text)
            except ValueError:
                problem = f"since: not a date (YYYY-MM-DD): {since_text!r}"
            else:
                try:
                    result = await in_thread(read.try_rule, src, draft, since)
                except ConfigError as err:
                    problem = str(err)
        if wants_json(request):
            if problem:
                return _json_response({"error": problem}, 400)
            return _json_response(result)
        if not draft:
            rule_id = q.get("rule")
            draft = _rule_yaml(rule_id) if rule_id else ""
        return render(request, who, "try.html", 400 if problem else 200, title="Try a rule",
                      draft=draft, since=since_text, result=result, problem=problem)

    def _rule_yaml(rule_id: str) -> str:
        """The live rule's text in triggers.yaml (comments kept), as a draft to start from."""
        try:
            lines = Path(src.settings.triggers_path).read_text(encoding="utf-8").splitlines()
        except OSError:
            return ""
        return rule_text(lines, rule_id)

    async def programs_view(request: Request, who: Identity) -> Response:
        from connector.programs.operations import UnknownName

        try:
            data = await in_thread(reading(lambda c: read.programs_page(src, c)))
        except UnknownName as err:
            return _not_found(request, who, str(err))
        if wants_json(request):  # = `programs show --json` (members: the overview's programs)
            return _json_response({k: v for k, v in data.items()
                                   if k not in ("summary", "funnels")})
        return render(request, who, "programs.html", title="Programs", data=data,
                      funnel_charts={f"{f['program']}/{f['track']}": bars(
                          [("enrolled", f["enrolled"])]
                          + [(s["step"], s["completed"]) for s in f["steps"]],
                          f"completion of {f['track']}") for f in data["funnels"]})

    async def segment_view(request: Request, who: Identity) -> Response:
        from connector.programs.operations import UnknownName

        q = request.query_params
        name = (q.get("name") or "").strip()
        when = (q.get("when") or "").strip() or None
        if not name:
            return _not_found(request, who, "give a segment name")
        try:
            data = await in_thread(reading(lambda c: read.segment_preview(src, c, name, when)))
        except (UnknownName, ConfigError) as err:
            if wants_json(request):
                return _json_response({"error": str(err)}, 400)
            return render(request, who, "problem.html", 400, title="Segment preview",
                          message=str(err))
        if wants_json(request):  # = `segments preview --json`
            return _json_response(data)
        return render(request, who, "segment.html", title=f"Segment {name}", data=data)

    async def audit_view(request: Request, who: Identity) -> Response:
        q = request.query_params
        before = _int(q.get("before"), 0, low=0, high=2**62) or None
        limit = _int(q.get("limit"), 100, high=500)
        data = await in_thread(reading(lambda c: read.audit_log(c, limit=limit, before=before)))
        if wants_json(request):
            return _json_response(data)
        return render(request, who, "audit.html", title="Audit", data=data, limit=limit)

    # --- actions -------------------------------------------------------------------------------
    def back_to_outbox(request: Request, form: dict[str, str], notice: str) -> Response:
        keep = {k: form[k] for k in read.OUTBOX_FILTERS if form.get(k)}
        if wants_json(request):
            return _json_response({"notice": notice})
        return RedirectResponse(f"{base}/outbox?{urlencode({**keep, 'notice': notice})}", 303)

    async def retry_action(request: Request, who: Identity, form: dict[str, str]) -> Response:
        from connector.outbox.admin import retry_items

        item = form.get("id", "").strip()
        if not item:
            return _problem(request, who, 400, "give the id of the dead write to retry")

        def run() -> list[str]:
            with src.engine.begin() as conn:
                ids = retry_items(conn, ids=[item])
                if ids:
                    read.record_action(conn, who=who.who, action="retry", target=item)
                return ids
        ids = await in_thread(run)
        if not ids:
            return _problem(request, who, 409, f"outbox item {item} is not dead; nothing to "
                            "retry (someone may have retried or dropped it already)")
        return back_to_outbox(request, form, f"queued {item[:12]} again: it goes out on the "
                              "next dispatch")

    async def drop_action(request: Request, who: Identity, form: dict[str, str]) -> Response:
        from connector.outbox.admin import drop_item

        item, reason = form.get("id", "").strip(), form.get("reason", "").strip()
        if not item or not reason:
            return _problem(request, who, 400, "dropping a write needs its id and a reason "
                            "(kept with the item and in the audit)")

        def run() -> str | None:
            with src.engine.begin() as conn:
                problem = drop_item(conn, item, reason)
                if problem is None:
                    read.record_action(conn, who=who.who, action="drop", target=item,
                                       reason=reason)
                return problem
        problem = await in_thread(run)
        if problem:
            return _problem(request, who, 409, problem)
        return back_to_outbox(request, form, f"dropped {item[:12]}: {reason}")

    async def bulk_retry_action(request: Request, who: Identity, form: dict[str, str]
                                ) -> Response:
        """Retry the dead writes the operator saw: those matching the filters that were dead
        at the newest time shown (``upto``), and exactly ``count`` of them; asks to confirm."""
        from connector.outbox.admin import matching_ids, retry_items

        filters = {k: (form.get(k) or None) for k in read.OUTBOX_FILTERS if k != "status"}
        try:
            upto = datetime.fromisoformat(form.get("upto", ""))
            seen = int(form.get("count", ""))
        except ValueError:
            return _problem(request, who, 400, "bulk retry needs the count and newest time "
                            "the outbox page showed")
        def ids_now() -> list[str]:
            with src.connect() as conn:
                return matching_ids(conn, status="dead", upto=upto, **filters)
        current = await in_thread(ids_now)
        if len(current) != seen:
            return _problem(request, who, 409, f"the outbox changed since it was shown: "
                            f"{len(current)} dead write(s) match now, {seen} were shown; "
                            "go back, reload and look again")
        if form.get("confirm") != "yes":
            keep = {k: v for k, v in filters.items() if v}
            return render(request, who, "confirm.html", title="Confirm bulk retry",
                          count=seen, upto=form["upto"], keep=keep)

        def run() -> list[str]:
            with src.engine.begin() as conn:
                ids: list[str] = []
                for start in range(0, len(current), BULK_CHUNK):  # bound parameters per query
                    ids += retry_items(conn, ids=current[start:start + BULK_CHUNK])
                read.record_action(conn, who=who.who, action="retry_all",
                                   target=f"{len(ids)} dead writes",
                                   detail={"filters": {k: v for k, v in filters.items() if v},
                                           "upto": form["upto"], "count": len(ids),
                                           "ids": ids[:AUDIT_IDS]})
                return ids
        ids = await in_thread(run)
        return back_to_outbox(request, {**{k: v or "" for k, v in filters.items()},
                                        "status": "pending"},
                              f"queued {len(ids)} dead write(s) again")

    # --- login ---------------------------------------------------------------------------------
    login_session = "login"

    async def login_form(request: Request) -> Response:
        if auth.token is None:
            return RedirectResponse(f"{base}/", 303)
        who = Identity("", "login", login_session)
        return render(request, who, "login.html", title="Log in",
                      next=_safe_next(request.query_params.get("next"), base), problem=None)

    async def login_action(request: Request) -> Response:
        if auth.token is None:
            return RedirectResponse(f"{base}/", 303)
        form = {k: str(v) for k, v in (await request.form()).items()}
        who = Identity("", "login", login_session)
        if not same_origin(request.headers.get("origin"), request.headers.get("referer"),
                           request.headers.get("host")) or not auth.csrf_ok(
                login_session, form.get("csrf")):
            return render(request, who, "problem.html", 403, title="Refused",
                          message="refused: the login form did not come from this page")
        nxt = _safe_next(form.get("next"), base)
        name = form.get("name", "").strip()
        if not auth.token_ok(form.get("token")) or not name:
            return render(request, who, "login.html", 401, title="Log in", next=nxt,
                          problem="wrong token, or no name given: the token is ops.token in "
                          "connector.yaml")
        response = RedirectResponse(nxt, 303)
        response.set_cookie(COOKIE, auth.make_cookie(name), max_age=auth.session_seconds,
                            path=base, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    async def logout_action(request: Request, who: Identity, form: dict[str, str]) -> Response:
        response = RedirectResponse(f"{base}/login", 303)
        response.delete_cookie(COOKIE, path=base)
        return response

    routes = [
        Route("/", page(overview_page), methods=["GET"]),
        Route("/runs", page(runs_view), methods=["GET"]),
        Route("/outbox", page(outbox_view), methods=["GET"]),
        Route("/outbox/retry", action(retry_action), methods=["POST"]),
        Route("/outbox/drop", action(drop_action), methods=["POST"]),
        Route("/outbox/bulk-retry", action(bulk_retry_action), methods=["POST"]),
        Route("/dead", page(dead_view), methods=["GET"]),
        Route("/decisions", page(decisions_view), methods=["GET"]),
        Route("/conflicts", page(conflicts_view), methods=["GET"]),
        Route("/partners", page(partners_view), methods=["GET"]),
        Route("/partners/{ref:path}/eligible", page(eligible_view), methods=["GET"]),
        Route("/partners/{ref:path}", page(partner_view), methods=["GET"]),
        Route("/rules", page(rules_view), methods=["GET"]),
        Route("/rules/try", page(try_view), methods=["GET"]),
        Route("/programs", page(programs_view), methods=["GET"]),
        Route("/programs/segment", page(segment_view), methods=["GET"]),
        Route("/audit", page(audit_view), methods=["GET"]),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login_action, methods=["POST"]),
        Route("/logout", action(logout_action), methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    inner = Starlette(routes=routes)
    if not standalone:
        return _SecurityHeaders(inner)

    async def to_page(request: Request) -> Response:
        return RedirectResponse(f"{base}/", 307)

    return _SecurityHeaders(Starlette(routes=[
        Route("/", to_page, methods=["GET"]), Route(base, to_page, methods=["GET"]),
        Mount(base, inner)]))


def rule_text(lines: list[str], rule_id: str) -> str:
    """The block of one ``- id: RULE`` entry of a triggers.yaml, dedented to a mapping."""
    for i, line in enumerate(lines):
        head = line.strip()
        if head.startswith("- id:") and head[5:].strip().strip("'\"") == rule_id:
            indent = len(line) - len(line.lstrip())
            block = [head[2:]]
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                block.append(nxt[indent + 2:])
            while block and not block[-1].strip():
                block.pop()
            return "\n".join(block) + "\n"
    return ""


def _statuses() -> tuple[str, ...]:
    from connector.outbox.admin import STATUSES

    return STATUSES


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _safe_next(value: str | None, base: str) -> str:
    """Only a path of this page (no other host, no scheme-relative //host)."""
    if value and value.startswith(base + "/") and not value.startswith("//") \
            and "\\" not in value:
        return value
    return f"{base}/"
