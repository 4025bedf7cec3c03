"""The architecture's import boundaries, enforced by reading every module's imports.

The general rule is one table, ``LAYERS``: (a package or module of connector/, what it may not
import). Every module of the package and every module it imports in turn (connector's own
modules, followed through their imports, lazy ones inside functions included; imports only
for type checkers are not) is checked, so a rule cannot be broken through a helper. A new
rule is one line.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "connector"

# The layers, bottom up: store < sync, outbox < partners < programs, triggers < service <
# daemon, web, cli. A name is a module prefix (connector.sync covers connector.sync.*).
_ABOVE_SERVICE = ("connector.daemon", "connector.web", "connector.cli")
_ABOVE_CONSUMERS = ("connector.service", *_ABOVE_SERVICE)
_ABOVE_PARTNERS = ("connector.programs", "connector.triggers", *_ABOVE_CONSUMERS)
_ABOVE_STORE = ("connector.sync", "connector.outbox", "connector.partners", *_ABOVE_PARTNERS)
_HTTP = ("requests", "simple_salesforce", "urllib3", "connector.salesforce")
_DB = ("sqlalchemy", "sqlmodel", "psycopg", "connector.store")

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # the store imports nothing above it (RecordDiff lives in store/diffs.py)
    ("connector.store", (*_ABOVE_STORE, *_HTTP, "connector.mapping")),
    ("connector.sync", ("connector.partners", *_ABOVE_PARTNERS)),
    ("connector.outbox", ("connector.partners", *_ABOVE_PARTNERS)),
    ("connector.partners", _ABOVE_PARTNERS),
    ("connector.programs", _ABOVE_CONSUMERS),
    ("connector.triggers", _ABOVE_CONSUMERS),
    ("connector.service", _ABOVE_SERVICE),
    ("connector.pipeline", (*_ABOVE_STORE,)),
    # logging loads no Salesforce code (and so no HTTP client)
    ("connector.logs", _HTTP),
    ("connector.signing", (*_HTTP, *_DB)),
    ("connector.redact", (*_HTTP, *_DB)),
    # the trigger engine stays pure: no database, no HTTP, no side effects
    ("connector.triggers.engine", (*_HTTP, *_DB, "connector.outbox", "connector.sync")),
    # the mapping stays pure
    ("connector.mapping", (*_HTTP, *_DB, *_ABOVE_STORE)),
    ("connector.sync.window", (*_HTTP, *_DB)),
    ("connector.store.diffs", (*_HTTP, *_DB)),
    ("connector.sftime", (*_HTTP, *_DB)),
]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (imports for type checkers only)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skip.update(id(n) for n in ast.walk(stmt))
    return skip


def _imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_nodes(tree) if runtime_only else set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
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


def _path_of(module: str) -> Path | None:
    """The file of a connector module (a package's __init__.py), or None."""
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _runtime_imports(module: str) -> frozenset[str]:
    """What importing ``module`` may load: its imports (from X import Y also as X.Y, which
    may be a module) and the packages above each connector module."""
    path = _path_of(module)
    if path is None:
        return frozenset()
    found: set[str] = set()
    for name in _imports(path, runtime_only=True):
        found.add(name)
        tree_names = name.split(".")
        for i in range(1, len(tree_names)):
            found.add(".".join(tree_names[:i]))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return frozenset(n for n in found if not n.startswith("connector") or _path_of(n))


def _closure(module: str) -> dict[str, str]:
    """Every module importing ``module`` may load -> the connector module that imports it."""
    seen: dict[str, str] = {}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in _runtime_imports(current):
            if name not in seen and name != module:
                seen[name] = current
                if name.startswith("connector"):
                    todo.append(name)
    return seen


def _covered(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _rule_modules() -> list[tuple[str, str, tuple[str, ...]]]:
    rows = []
    for owner, banned in LAYERS:
        path = _path_of(owner)
        if path is None:
            continue  # a package that does not exist yet (partners, web)
        if path.name == "__init__.py":
            modules = sorted(_module_of(p) for p in path.parent.rglob("*.py"))
        else:
            modules = [owner]
        rows += [(owner, m, banned) for m in modules]
    return rows


@pytest.mark.parametrize(
    ("owner", "module", "banned"), _rule_modules(), ids=[r[1] for r in _rule_modules()]
)
def test_layers(owner: str, module: str, banned: tuple[str, ...]) -> None:
    """No module of ``owner`` loads, directly or through what it imports, what ``LAYERS``
    says ``owner`` may not import."""
    closure = _closure(module)
    bad = sorted(
        f"{name} (imported by {closure[name]})"
        for name in closure
        if _covered(name, banned) and not _covered(name, (owner,))
    )
    assert not bad, f"{module} ({owner} may not import {', '.join(banned)}) loads {bad}"


def test_the_first_log_line_loads_no_salesforce_code() -> None:
    """A process that logs (scrubbed) loads neither connector.salesforce nor an HTTP client."""
    code = (
        "import sys\n"
        "from connector.logs import configure_logging, get_logger\n"
        "configure_logging('INFO', json_logs=True)\n"
        "get_logger('probe').info('probe.hello', detail='password=hunter2 ok')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('requests', 'simple_salesforce', 'urllib3') or m.startswith('connector.salesforce'))\n"
        "print(','.join(loaded))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)
    assert "probe.hello" in proc.stderr and "hunter2" not in proc.stderr  # scrubbed
    assert proc.stdout.strip() == ""


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
