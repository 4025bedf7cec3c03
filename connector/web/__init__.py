"""The operations page (Starlette + Jinja2): served by `run` under /ops/ and by `ops` alone.

``create_ops_app`` builds it over an ``OpsSource`` (store, config, daemon state) and an
``OpsAuth`` (token, cookie and CSRF keys); ``mount_ops`` adds it to the daemon's HTTP app.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from connector.web.auth import OpsAuth, check_bind, is_loopback
from connector.web.read import OpsSource

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from connector.service import Runtime

__all__ = [
    "OpsAuth", "OpsSource", "auth_of", "check_bind", "is_loopback", "mount_ops", "source_of",
]


def source_of(rt: Runtime, *, daemon: bool = False) -> OpsSource:
    """The page's view of a runtime (``daemon``: served by the running daemon itself)."""
    from connector.web.status import daemon_runs

    return OpsSource(
        settings=rt.settings, spec=rt.spec, engine=rt.engine, programs=rt.programs,
        clock=rt.clock,
        daemon_running=(lambda: True) if daemon else (lambda: daemon_runs(rt.engine)),
    )


def auth_of(rt: Runtime) -> OpsAuth:
    ops = rt.settings.ops
    return OpsAuth(token=ops.token, session_seconds=ops.session_seconds,
                   local_user=_user())


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


def mount_ops(app: Starlette, rt: Runtime, host: str) -> Starlette:
    """Serve the operations page under /ops/ of the daemon's ``app`` (listening on ``host``).

    Off loopback without ``ops.token`` this refuses (ConfigError, exit 2)."""
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from connector.web.app import BASE, create_ops_app

    check_bind(host, rt.settings.ops.token, rt.settings.base_dir / "connector.yaml")

    async def to_page(request: object) -> RedirectResponse:
        return RedirectResponse(f"{BASE}/", 307)

    app.router.routes.append(Route(BASE, to_page, methods=["GET"]))
    app.router.routes.append(Mount(BASE, create_ops_app(source_of(rt, daemon=True),
                                                        auth_of(rt))))
    return app
