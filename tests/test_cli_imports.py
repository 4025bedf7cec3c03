"""`prm-connector --help` stays fast: registering every command imports no heavy module.

Commands import the store, the sync engine, the Salesforce client, the emulator and rich
tables inside their functions; this test fails when a module-top import drags one in again.
"""

from __future__ import annotations

import json
import subprocess
import sys

# Top-level packages (or dotted prefixes) a command may import only when it runs.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "simple_salesforce",
    "requests",
    "urllib3",
    "psycopg",
    "pydantic",
    "yaml",
    "structlog",
    "starlette",
    "uvicorn",
    "cryptography",
    "trustme",
    "lark",
    "celpy",
    "apscheduler",
    "rich.table",
    "rich.progress",
    "connector.store",
    "connector.sync",
    "connector.salesforce",
    "connector.mapping",
    "connector.emulator",
    "connector.settings",
    "connector.service",
    "connector.triggers",
    "connector.outbox",
    "connector.daemon",
)

_PROBE = """
import json, sys
import connector.cli
connector.cli._register()
import typer.main
typer.main.get_command(connector.cli.app)  # build every command and option, as --help does
print(json.dumps(sorted(sys.modules)))
"""


_HELP_PROBE = """
import json, sys
from connector.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def _loaded_by(probe: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    loaded: list[str] = json.loads(out.stdout.splitlines()[-1])
    return loaded


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def test_registering_every_command_imports_none_of_the_heavy_modules() -> None:
    """Building the whole command tree loads typer and the CLI modules, nothing heavier."""
    loaded = _loaded_by(_PROBE)
    assert "connector.cli.sync_cmds" in loaded and "connector.cli.config_cmds" in loaded
    assert _heavy(loaded) == []


def test_help_is_rendered_without_rich() -> None:
    """`prm-connector --help` prints plain help: neither rich nor markdown-it is imported."""
    loaded = _loaded_by(_HELP_PROBE)
    assert "connector.cli.sync_cmds" in loaded
    assert _heavy(loaded) == []
    assert [m for m in loaded if m.split(".")[0] in ("rich", "markdown_it")] == []


def test_the_probe_sees_a_heavy_import_when_there_is_one() -> None:
    """The check itself works: a module that imports the store shows up as heavy."""
    assert _heavy(["connector.store.engine", "sqlalchemy", "typer", "connector.cli"]) == [
        "connector.store.engine",
        "sqlalchemy",
    ]
