"""The ``prm-connector`` command line: the composition root.

Each command group lives in its own module and registers itself on ``app``; settings, engine
and Salesforce client are built there and passed down, never kept in module globals.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from connector.errors import ConfigError, ConnectorError

__all__ = ["app", "main"]

app = typer.Typer(
    name="prm-connector",
    help="Keep a PRM store in sync with Salesforce, both ways, and run partner triggers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    log_level: Annotated[
        str, typer.Option("--log-level", help="debug, info, warning or error (logs go to stderr).")
    ] = "warning",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="connector.yaml for every command (same as the command's -c)."
        ),
    ] = None,
) -> None:
    """Keep a PRM store in sync with Salesforce, both ways, and run partner triggers.

    Every command takes --config/-c PATH (else $PRM_CONFIG, else ./connector.yaml).
    Exit codes: 0 ok, 1 runtime failure, 2 bad input (config, rules, arguments).
    """
    from connector.logs import configure_logging

    configure_logging(log_level)
    if config is not None:
        # Commands fall back to $PRM_CONFIG when they get no -c of their own.
        os.environ["PRM_CONFIG"] = str(config)


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from connector.cli import (  # noqa: F401
        config_cmds,
        demo_cmd,
        emulator_cmd,
        inbound_cmds,
        outbox_cmds,
        programs_cmds,
        sync_cmds,
        triggers_cmds,
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: map connector errors to the contract's exit codes."""
    _register()
    try:
        app(args=argv)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        sys.exit(2)
    except ConnectorError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
