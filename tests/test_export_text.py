"""Export: control and bidi characters neutralised in CSV cells (as formulas are); a NUL held
escaped on PostgreSQL is exported as the original text."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from test_exporting import SF_ENV

from connector.cli.config_cmds import write_defaults
from connector.exporting import csv_cell, neutralise
from connector.store import repo
from connector.sync.storable import escape_nul, storable_text, unescape_nul

from clirunner import CliResult, invoke

RLO, PDI, LRI = "\u202e", "\u2069", "\u2066"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Acme\x00Corp", "Acme\ufffdCorp"),
        (f"invoice{RLO}fdp.exe", "invoice\ufffdfdp.exe"),
        (f"{LRI}admin{PDI}", "\ufffdadmin\ufffd"),
        ("bell\x07 and del\x7f and c1\x85", "bell\ufffd and del\ufffd and c1\ufffd"),
        ("line one\nline two\ttabbed", "line one\nline two\ttabbed"),  # layout is kept
        (f"={RLO}1+1", "'=\ufffd1+1"),  # a formula and a bidi override, both neutralised
    ],
)
def test_control_and_bidi_characters_are_replaced_in_a_csv_cell(text: str, shown: str) -> None:
    assert neutralise(text) == shown
    assert csv_cell(text, raw=True) == text


@pytest.mark.parametrize("text", ["", "plain", "a\x00b", "\ue000", "\ue0000", "\x00\ue000\x00",
                                  "\ue000\ue000\x00\ue0000"])
def test_the_nul_escape_is_reversible_and_holds_no_nul(text: str) -> None:
    escaped = escape_nul(text)
    assert "\x00" not in escaped
    assert unescape_nul(escaped) == text
    assert storable_text({"t": text, "n": 1}, "postgresql") == {"t": escaped, "n": 1}
    assert storable_text({"t": text}, "sqlite") == {"t": text}


def _invoke(cfg: Path, url: str, *args: str) -> CliResult:
    env: dict[str, str | None] = {"PRM_CONFIG": None, **SF_ENV, "PRM_DATABASE_URL": url}
    return invoke("-c", str(cfg / "connector.yaml"), *args, env=env)


def test_export_neutralises_control_and_bidi_characters_and_gives_a_nul_back(
    store: tuple[Engine, str], tmp_path: Path
) -> None:
    """A partner name holding a NUL and a right-to-left override (stored as sync stores it:
    escaped on PostgreSQL): CSV shows U+FFFD for both, --raw the bidi override as stored, and
    JSON lines the original text, NUL included, on either store."""
    engine, url = store
    write_defaults(tmp_path / "cfg")
    name = f"Acme\x00{RLO}Corp"
    with engine.begin() as conn:
        repo.upsert_records(conn, "partner", [repo.RecordRow(
            "001000000000001AAA",
            storable_text({"name": name, "status": "Active"}, engine.dialect.name))])
    cfg = tmp_path / "cfg"
    safe = _invoke(cfg, url, "export", "partner", "--format", "csv")
    assert safe.exit_code == 0, safe.stderr
    assert [r["name"] for r in csv.DictReader(io.StringIO(safe.stdout))] == [
        "Acme\ufffd\ufffdCorp"]
    lines = _invoke(cfg, url, "export", "partner", "--format", "jsonl")
    assert lines.exit_code == 0, lines.stderr
    assert [json.loads(line)["name"] for line in lines.stdout.splitlines()] == [name]
