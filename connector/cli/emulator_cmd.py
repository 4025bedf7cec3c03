"""``prm-connector emulator serve``: a local Salesforce org over HTTPS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption

__all__ = ["env_lines"]

emulator_app = typer.Typer(
    help="A local Salesforce org over HTTPS (REST, SOQL, Bulk 2.0, Outbound Messages).",
    no_args_is_help=True,
)
app.add_typer(emulator_app, name="emulator")


@emulator_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
    seed: Annotated[
        str, typer.Option(help="empty (users only) or demo (a small partner org).")
    ] = "empty",
    records: Annotated[
        int, typer.Option(help="Add N opportunities spread over the partners (benchmarks).")
    ] = 0,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the org and its CA here; the org survives a restart."),
    ] = None,
    outbound: Annotated[
        list[str] | None,
        typer.Option(help="SOBJECT=URL: send Outbound Messages for SOBJECT to URL (repeatable)."),
    ] = None,
    api_limit: Annotated[
        int, typer.Option(help="Daily API allowance; past it, REQUEST_LIMIT_EXCEEDED.")
    ] = 100_000,
    session_ttl: Annotated[
        float, typer.Option(help="Seconds before an access token expires (INVALID_SESSION_ID).")
    ] = 7200.0,
    outbound_time_scale: Annotated[
        float,
        typer.Option(help="Real seconds per emulated second for Outbound Message retries."),
    ] = 1.0,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="When ready, write the PRM_SF_* variables of the emulated org (integration "
            "user) to this file, for `set -a; . FILE` or a systemd EnvironmentFile.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve an emulated org; prints ONE JSON line (URLs, CA bundle, users) when ready."""
    if seed not in ("empty", "demo"):
        raise typer.BadParameter("must be empty or demo", param_hint="--seed")
    from connector import gctune
    from connector.emulator.persist import StateError
    from connector.emulator.server import EmulatorOptions, serve_forever

    gctune.settle(freeze=False)  # a server: the collector as it always runs

    options = EmulatorOptions(
        host=host,
        port=port,
        seed=seed,
        records=records,
        state_dir=state_dir,
        outbound=tuple(outbound or ()),
        api_limit=api_limit,
        session_ttl=session_ttl,
        outbound_time_scale=outbound_time_scale,
    )
    try:
        if env_file is not None:
            _serve_with_env_file(options, env_file)
        else:
            serve_forever(options)
    except StateError as err:  # a --state-dir file we refuse to load: bad input
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def env_lines(info: dict[str, Any]) -> str:
    """The PRM_SF_* variables (shell-quoted) that point the default connector.yaml at an org."""
    import shlex

    from connector.emulator.testing import EmulatorHandle

    values = EmulatorHandle.from_info(info).connector_env()
    head = "# The emulated org of `prm-connector emulator serve` (valid while it runs).\n"
    return head + "".join(f"{k}={shlex.quote(str(v))}\n" for k, v in values.items())


def _serve_with_env_file(options: Any, path: Path) -> None:
    """serve_forever, plus the env file written (mode 0600) before the JSON line is printed."""
    import json
    import os
    import signal

    from connector.emulator.server import Emulator

    def announce(info: dict[str, Any]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(env_lines(info))
        os.replace(tmp, path)
        print(json.dumps(info), flush=True)

    # As serve_forever does: let run() return (and save the org) on SIGTERM/SIGINT.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    Emulator(options).run(on_ready=announce)
