"""The ``prm-connector`` command line: the composition root.

Each command group lives in its own module and registers itself on ``app``; settings, engine
and Salesforce client are built there and passed down, never kept in module globals.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from connector.errors import ConfigError, ConnectorError

__all__ = ["app", "main"]

# Garbage collector thresholds while a command runs (generation 0, 1, 2); see ``main``.
GC_THRESHOLDS = (50_000, 20, 10)
# ... and while the process starts (imports, config), until the runtime is open.
GC_STARTUP_THRESHOLDS = (2_000_000, 20, 10)
# Set by the root callback; read by ``main`` after the command has failed.
_STATE: dict[str, bool] = {"debug": False}

app = typer.Typer(
    name="prm-connector",
    help="Keep a PRM store in sync with Salesforce, both ways, and run partner triggers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help and usage errors: typer's rich formatter (rich + markdown-it) alone
    # would triple the start-up time of every `--help`.
    rich_markup_mode=None,
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
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="On a failure, print the full traceback as well (also $PRM_DEBUG=1)."
        ),
    ] = False,
) -> None:
    """Keep a PRM store in sync with Salesforce, both ways, and run partner triggers.

    Every command takes --config/-c PATH (else $PRM_CONFIG, else ./connector.yaml).
    Exit codes: 0 ok, 1 runtime failure, 2 bad input (config, rules, arguments).
    """
    from connector.logs import configure_logging

    configure_logging(log_level)
    if debug:
        _STATE["debug"] = True
    if config is not None:
        # Commands fall back to $PRM_CONFIG when they get no -c of their own.
        os.environ["PRM_CONFIG"] = str(config)


def _register() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from connector.cli import (  # noqa: F401
        config_cmds,
        daemon_cmds,
        demo_cmd,
        emulator_cmd,
        inbound_cmds,
        ops_cmd,
        outbox_cmds,
        programs_cmds,
        sync_cmds,
        triggers_cmds,
    )


def _debug() -> bool:
    return _STATE["debug"] or os.environ.get("PRM_DEBUG", "") not in ("", "0", "false")


def _fail(message: str, code: int) -> None:
    """One line on stderr (URLs redacted), the traceback too under --debug, then exit."""
    from connector.redact import redact_urls

    if _debug():
        traceback.print_exc()
    print(redact_urls(message), file=sys.stderr)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: map every failure to one line and the contract's exit codes.

    Third-party exceptions (database drivers, Alembic) are translated here, once; anything
    still unexpected is one line too, with the traceback only under --debug.
    """
    # A command allocates hundreds of thousands of objects that live for the whole run
    # (imports, a page of rows): the default thresholds (700, 10, 10) scan them over and over,
    # which cost a tenth of a sync's CPU. Cyclic garbage is still collected, in larger steps.
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    if argv is None:
        # The process ends with the command: at exit the interpreter would run full
        # collections over every object still alive (a quarter of a second after a sync).
        # Frozen objects are skipped; they are freed with the process. atexit handlers
        # registered later (log handlers, temporary folders) run before this one.
        atexit.register(gc.freeze)
        # No young collections while the command imports and loads its config; the runtime
        # freezes what start-up built once it is open (connector.gctune).
        from connector import gctune

        gctune.arm(GC_STARTUP_THRESHOLDS, GC_THRESHOLDS)
    try:
        _run(argv)
    finally:
        gc.set_threshold(*thresholds)


def _run(argv: list[str] | None) -> None:
    _register()
    _STATE["debug"] = False
    try:
        app(args=argv)
    except ConfigError as err:
        _fail(str(err), 2)
    except ConnectorError as err:
        _fail(f"error: {err}", err.exit_code)
    except KeyboardInterrupt:
        _fail("error: interrupted", 130)
    except Exception as err:
        from connector.store.failures import translate

        known = translate(err)
        if known is not None:
            _fail(f"error: {known}", known.exit_code)
        first = (str(err).strip().splitlines() or [""])[0][:300]
        _fail(
            f"error: unexpected {type(err).__name__}: {first} (run again with --debug for the "
            "traceback, and please report it)",
            1,
        )
