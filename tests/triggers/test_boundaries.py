"""The trigger engine's pure core imports no database, HTTP client or clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "connector" / "triggers"
PURE = ["engine.py", "expressions.py", "spec.py", "fiscal.py", "catalogue.py"]
IO = {"sqlalchemy", "sqlmodel", "psycopg", "requests", "simple_salesforce", "connector.store",
      "connector.salesforce", "connector.outbox"}


@pytest.mark.parametrize("name", PURE)
def test_pure_trigger_modules_do_no_io(name: str) -> None:
    """engine, expressions, spec, fiscal and catalogue: changes and context in, decisions out."""
    tree = ast.parse((PKG / name).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    bad = {m for m in imported if any(m == p or m.startswith(p + ".") for p in IO)}
    assert not bad
    assert "utcnow" not in (PKG / name).read_text()
