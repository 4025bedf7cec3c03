"""``ops``: the operations page over the store alone (no Salesforce variables needed)."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, console

__all__: list[str] = []


@app.command("ops")
def ops_cmd(
    config: ConfigOption = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="HOST:PORT to serve the page on (default: ops.listen, 127.0.0.1:8765); any "
            "address but loopback needs ops.token in connector.yaml. Port 0 picks a free one.",
        ),
    ] = None,
) -> None:
    """Serve the operations page (overview, outbox, decisions, partners, rules) until Ctrl-C.

    It reads the store alone: no PRM_SF_* variable is needed. Every page has a JSON twin
    (send Accept: application/json).
    """
    import signal
    import threading

    from connector.cli.common import load_config, open_engine
    from connector.daemon.http import HttpServer, parse_listen
    from connector.errors import FatalError
    from connector.service import Runtime
    from connector.web import auth_of, check_bind, source_of
    from connector.web.app import BASE, create_ops_app

    settings, spec = load_config(config, store_only=True)
    where = (listen or settings.ops.listen).strip()
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise typer.BadParameter("must be HOST:PORT, e.g. 127.0.0.1:8765", param_hint="--listen")
    host, port_n = parse_listen(where)
    check_bind(host, settings.ops.token, settings.base_dir / "connector.yaml")
    rt = Runtime(settings=settings, spec=spec, engine=open_engine(settings))
    page = create_ops_app(source_of(rt), auth_of(rt), standalone=True)
    try:
        server = HttpServer(page, host, port_n)
    except OSError as err:
        rt.close()
        raise FatalError(f"cannot listen on {where}: {err.strerror}") from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.set())
    server.start()
    console.print(f"operations page: {server.url}{BASE}/ (Ctrl-C stops)", highlight=False)
    try:
        stop.wait()
    finally:
        server.stop()
        rt.close()
