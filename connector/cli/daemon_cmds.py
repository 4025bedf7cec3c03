"""``prm-connector run``: the daemon (receiver, scheduler, push, write-back, hot standby)."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli import app
from connector.cli.common import ConfigOption
from connector.errors import FatalError

__all__: list[str] = []


def _listen(value: str | None) -> str | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise typer.BadParameter("must be HOST:PORT, e.g. 127.0.0.1:8080", param_hint="--listen")
    return value


@app.command("run")
def run_cmd(
    config: ConfigOption = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="HOST:PORT for Outbound Messages, webhooks, /healthz, /readyz and /metrics "
            "(default: daemon.listen in connector.yaml; port 0 picks a free one).",
        ),
    ] = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            "--poll-interval",
            min=0.1,
            help="Seconds between polling cycles (default: sync.poll_interval_seconds).",
        ),
    ] = None,
    push: Annotated[
        list[str] | None,
        typer.Option(
            "--push",
            help="How changes are pushed between polls: outbound (Outbound Messages and "
            "webhooks on the receiver) or cdc (Change Data Capture over the Pub/Sub API); "
            "repeat for both (default: sync.push in connector.yaml).",
        ),
    ] = None,
) -> None:
    """Run the daemon: poll, receive pushes, run triggers and write back until SIGTERM.

    A second daemon on the same store waits as a hot standby and takes over when the first
    one stops or dies. Logs are JSON lines on stderr.
    """
    _listen(listen)
    for value in push or ():
        if value not in ("outbound", "cdc"):
            raise typer.BadParameter(
                f"must be outbound or cdc (got {value!r})", param_hint="--push"
            )
    import logging

    from connector.logs import configure_logging, current_level

    level = min(logging.getLevelNamesMapping()[current_level()], logging.INFO)
    configure_logging(logging.getLevelName(level), json_logs=True, stdlib=True)

    from connector.daemon.runner import Daemon, DaemonOptions
    from connector.daemon.triggers import scheduled_jobs
    from connector.service import open_runtime

    rt = open_runtime(config)
    try:
        daemon = Daemon(
            rt,
            DaemonOptions(
                listen=listen, poll_interval=poll_interval, push=tuple(push) if push else None
            ),
            scheduled=scheduled_jobs,
        )
    except OSError as err:
        rt.close()
        where = listen or rt.settings.daemon.listen
        raise FatalError(f"cannot listen on {where}: {err.strerror}") from None
    daemon.install_signal_handlers()
    code = daemon.run()
    rt.close()
    raise typer.Exit(code)
