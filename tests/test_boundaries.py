"""The architecture's import boundaries, enforced by reading every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "connector"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # resolve relative imports against the module's package
                parts = path.relative_to(ROOT).with_suffix("").parts[: -node.level]
                base = ".".join(parts)
                names.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                names.add(node.module)
    return names


def _modules(sub: str) -> list[Path]:
    return sorted((PKG / sub).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("emulator"), ids=lambda p: str(p.relative_to(ROOT)))
def test_emulator_imports_nothing_else_from_connector(path: Path) -> None:
    """The emulator is a product of its own: it imports only connector.emulator."""
    bad = {
        n
        for n in _imports(path)
        if n.startswith("connector") and not n.startswith("connector.emulator")
    }
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in sorted(PKG.rglob("*.py"))
        if not p.is_relative_to(PKG / "salesforce") and not p.is_relative_to(PKG / "emulator")
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_salesforce_package_talks_http(path: Path) -> None:
    """simple_salesforce and requests are imported only in connector/salesforce (and emulator)."""
    bad = {n for n in _imports(path) if n.split(".")[0] in {"simple_salesforce", "requests"}}
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "path",
    [
        *_modules("mapping"),
        *[p for p in [PKG / "sync" / "window.py", PKG / "sync" / "diffs.py", PKG / "sftime.py"]],
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_pure_modules_do_no_io_imports(path: Path) -> None:
    """mapping/ and the window/diff logic never import HTTP clients or the database."""
    io = {"requests", "simple_salesforce", "sqlalchemy", "sqlmodel", "psycopg", "urllib3"}
    bad = {n for n in _imports(path) if n.split(".")[0] in io}
    assert not bad, f"{path} imports {sorted(bad)}"


_NOT_BELOW = {
    "programs": ("connector.triggers",),
    "triggers": ("connector.programs",),
    "partners": ("connector.programs", "connector.triggers", "connector.service"),
}


@pytest.mark.parametrize(
    "path",
    [p for sub in _NOT_BELOW for p in _modules(sub)],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_programs_and_triggers_do_not_import_each_other_and_partners_imports_neither(
    path: Path,
) -> None:
    """programs and triggers stand side by side on the partner layer (facts, CEL, fiscal
    calendar, actions); what programs adds to the rules reaches triggers through the runtime's
    rule environment, never an import, and partners imports neither of them."""
    package = path.relative_to(PKG).parts[0]
    banned = _NOT_BELOW[package]
    bad = {n for n in _imports(path) if any(n == b or n.startswith(b + ".") for b in banned)}
    assert not bad, f"{path} imports {sorted(bad)}"
