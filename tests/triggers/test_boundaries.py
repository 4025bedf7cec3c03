"""The trigger engine's pure core imports no database, HTTP client or clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "connector"
PURE = ["triggers/engine.py", "triggers/spec.py", "triggers/catalogue.py", "partners/cel.py",
        "partners/fiscal.py", "partners/actions.py"]
IO = {"sqlalchemy", "sqlmodel", "psycopg", "requests", "simple_salesforce", "connector.store",
      "connector.salesforce", "connector.outbox"}


@pytest.mark.parametrize("name", PURE)
def test_pure_trigger_modules_do_no_io(name: str) -> None:
    """The engine, rule spec and action catalogue, and the partner layer's CEL, fiscal calendar
    and action definitions: changes and context in, decisions out."""
    tree = ast.parse((ROOT / name).read_text())
    for node in ast.walk(tree):  # imports for type hints only are not I/O
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    bad = {m for m in imported if any(m == p or m.startswith(p + ".") for p in IO)}
    assert not bad
    assert "utcnow" not in (ROOT / name).read_text()
