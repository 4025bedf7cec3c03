"""connector/mapping is pure: no HTTP client, database or network import anywhere in it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "connector" / "mapping"
FORBIDDEN = {
    "requests", "simple_salesforce", "sqlmodel", "sqlalchemy", "psycopg", "urllib3", "httpx",
    "socket", "http", "urllib", "alembic", "starlette", "uvicorn",
}
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_roots(source: str) -> set[str]:
    """Top-level package names a module imports (absolute imports only; relative stay inside)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def connector_imports(source: str) -> set[str]:
    """The connector.* modules a module imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("connector")}


def test_the_scanner_sees_forbidden_imports() -> None:
    """The check itself can fail: it flags both import forms."""
    assert {"requests", "sqlalchemy"} <= imported_roots(
        "import requests\nfrom sqlalchemy.orm import Session\n"
    )


def test_there_are_modules_to_scan() -> None:
    assert {p.name for p in MODULES} >= {"spec.py", "mapper.py", "transforms.py", "validate.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_mapping_module_imports_no_io_library(path: Path) -> None:
    """Given a mapping module, it imports none of the HTTP, database or network libraries."""
    bad = imported_roots(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_mapping_module_uses_only_pure_connector_modules(path: Path) -> None:
    """Within the connector it may use only errors, yamlconf, sftime (date-times) and itself."""
    allowed = ("connector.errors", "connector.yamlconf", "connector.sftime", "connector.mapping")
    bad = {n for n in connector_imports(path.read_text(encoding="utf-8"))
           if not n.startswith(allowed)}
    assert not bad, f"{path.name} imports {sorted(bad)}"
