"""The ``prm-connector`` command line: the composition root.

Each command group lives in its own module and registers itself on ``app``; settings, engine
and Salesforce client are built here and passed down, never kept in module globals.
"""

from __future__ import annotations

import sys

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


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from connector.cli import emulator_cmd  # noqa: F401


def main() -> None:
    """Console-script entry point: map connector errors to the contract's exit codes."""
    _register()
    try:
        app()
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        sys.exit(2)
    except ConnectorError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
