"""The command line: help everywhere, init, and exit code 2 with file:line on bad config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from connector.cli import _register, app

from clirunner import invoke

ROOT = Path(__file__).resolve().parent.parent

CONTRACT_COMMANDS = {
    "emulator serve",
    "init",
    "check",
    "sync",
    "backfill",
    "reconcile",
    "status",
    "export",
    "demo",
    "db upgrade",
    "mapping scaffold",
    "programs show",
    "partner show",
    "partner eligible",
    "segments preview",
    "record step-complete",
    "record points",
}


def _commands() -> dict[str, Any]:
    _register()
    root = typer.main.get_command(app)
    found: dict[str, Any] = {}

    def walk(cmd: Any, prefix: str) -> None:
        # typer ships its own click; groups are recognised by their ``commands``.
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, f"{prefix} {name}".strip())
        else:
            found[prefix] = cmd

    walk(root, "")
    return found


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m connector ARGS` in a new process (when the process is the point)."""
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
    )


def test_every_contract_command_exists_and_every_command_and_option_has_help() -> None:
    """An undocumented command or option fails this test."""
    commands = _commands()
    assert set(commands) >= CONTRACT_COMMANDS
    for name, cmd in commands.items():
        assert cmd.help and cmd.help.strip(), f"`{name}` has no help text"
        for param in cmd.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"`{name} {param.opts[0]}` has no help text"
        if name != "emulator serve":
            assert any("--config" in p.opts for p in cmd.params), f"`{name}` does not take --config"


def test_init_writes_the_default_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """`init DIR` writes connector, mapping, triggers and programs files; a rerun exits 2."""
    first = invoke("init", str(tmp_path / "cfg"))
    assert first.exit_code == 0, first.stderr
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == [
        "connector.yaml",
        "mapping.yaml",
        "programs.yaml",
        "triggers.yaml",
    ]
    again = invoke("init", str(tmp_path / "cfg"))
    assert again.exit_code == 2
    assert "--force" in again.stderr


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PRM_SF_LOGIN_URL": "https://127.0.0.1:9",
        "PRM_SF_USERNAME": "u@example.com",
        "PRM_SF_PASSWORD": "pw",
        "PRM_SF_CLIENT_ID": "cid",
        "PRM_SF_CLIENT_SECRET": "secret",
        "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "PRM_CONFIG": "",
    }


def test_check_offline_accepts_the_defaults(tmp_path: Path) -> None:
    """The files `init` writes validate cleanly (without calling any org)."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    res = invoke(
        "check", "--offline", "--json", "-c", str(tmp_path / "connector.yaml"), env=_env(tmp_path)
    )
    assert res.exit_code == 0, res.stderr
    assert '"ok": true' in res.stdout


@pytest.mark.parametrize(
    ("file", "original", "broken", "expect"),
    [
        ("mapping.yaml", "sobject: Opportunity", "sobjekt: Opportunity", "mapping.yaml:"),
        ("connector.yaml", "\nsync:\n", "\nsink:\n", "connector.yaml:"),
        ("programs.yaml", "kind: certification", "kind: certificate", "programs.yaml:"),
    ],
)
def test_bad_config_exits_2_naming_file_and_line(
    tmp_path: Path, file: str, original: str, broken: str, expect: str
) -> None:
    """A broken file makes every command exit 2 before touching the org or the store."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    path = tmp_path / file
    text = path.read_text()
    assert original in text
    path.write_text(text.replace(original, broken, 1))
    line = text[: text.index(original.lstrip("\n"), text.index(original))].count("\n") + 1
    for command in (["check"], ["sync", "--once"], ["status"]):
        res = invoke(*command, "-c", str(tmp_path / "connector.yaml"), env=_env(tmp_path))
        assert res.exit_code == 2, (command, res.stderr)
        assert f"{expect}{line}:" in res.stderr, res.stderr
    assert not (tmp_path / "x.db").exists(), "the store must not be touched"


def test_missing_environment_variable_is_reported_with_its_line(tmp_path: Path) -> None:
    """An unset PRM_SF_USERNAME is named, with the line that reads it; exit 2 (for a command
    that talks to Salesforce: `status` reads the store alone and does not need it)."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PRM_")}
    env.update(_env(tmp_path))
    env["PRM_SF_USERNAME"] = None
    res = invoke("sync", "--once", "-c", str(tmp_path / "connector.yaml"), env=env)
    assert res.exit_code == 2
    assert "PRM_SF_USERNAME" in res.stderr and "connector.yaml:" in res.stderr
    assert invoke("status", "-c", str(tmp_path / "connector.yaml"), env=env).exit_code == 0


def test_broken_triggers_stop_sync_before_the_org_is_called(tmp_path: Path) -> None:
    """A rule naming an unknown entity: `sync --once` exits 2 with triggers.yaml:line, before
    logging in (the login URL points nowhere, so reaching it would be exit 1)."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    path = tmp_path / "triggers.yaml"
    text = path.read_text()
    original = "entity: deal_registration"
    line = text[: text.index(original)].count("\n") + 1
    path.write_text(text.replace(original, "entity: deal_registrations", 1))
    res = invoke("sync", "--once", "-c", str(tmp_path / "connector.yaml"), env=_env(tmp_path))
    assert res.exit_code == 2, res.stderr
    assert f"triggers.yaml:{line}:" in res.stderr, res.stderr
