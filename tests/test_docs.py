"""The docs a user of the repository reads: complete, pointing only at what exists.

Every CLI command is mentioned in README.md or docs/; every document a file cites is in the
repository; config/ is the packaged defaults folder, and `init` writes exactly those files.
"""

from __future__ import annotations

import os
import re
import tomllib
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path

import pytest

from connector.cli.config_cmds import DEFAULT_FILES

from clirunner import invoke
from test_cli import _commands

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_DIRS = {
    ".git",
    ".venv",
    ".venv-tap",
    ".venv-bulk1",
    ".venv-pubsub",
    ".node",
    "node_modules",
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "build",
    "dist",
}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".ini", ".mako", ".txt", ".cfg", ".sh"}
# A cited document: a path or bare name ending in .md (not part of a URL).
CITATION = re.compile(r"(?<![\w/.:-])((?:\.\.?/)*[\w.-]+(?:/[\w.-]+)*\.md)\b")
OUTSIDE = re.compile(r"\.\./shared\b")


def _walk() -> list[Path]:
    """Every file of the repository, without venvs, caches and installed node modules."""
    out = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        out.extend(Path(folder) / n for n in names)
    return out


FILES = _walk()
DOCUMENT_NAMES = {p.name for p in FILES if p.suffix == ".md"}


def _repo_files() -> list[Path]:
    this = Path(__file__).resolve()  # its examples name missing documents on purpose
    return [
        p
        for p in FILES
        if p != this and (p.suffix in TEXT_SUFFIXES or p.relative_to(ROOT).as_posix() == ".ci/run")
    ]


def _mentioned(command: str, text: str) -> bool:
    """`command ...` in backticks, or `prm-connector [options] command` anywhere."""
    name = re.escape(command)
    return bool(
        re.search(rf"`{name}(?=[\s`\\|\[])", text)
        or re.search(rf"prm-connector(?:\s+-\S+(?:\s+[^-\s]\S*)?)*\s+{name}\b", text)
    )


def _missing_citations(path: Path, text: str) -> list[str]:
    missing = []
    for match in CITATION.finditer(text):
        cited = match.group(1)
        if "/" in cited:
            if not ((ROOT / cited).exists() or (path.parent / cited).exists()):
                missing.append(cited)
        elif cited not in DOCUMENT_NAMES:
            missing.append(cited)
    return missing


def test_every_command_is_documented_in_the_readme_or_docs() -> None:
    """A command nobody can read about fails here: add it to the README's table."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in DOCS)
    undocumented = sorted(c for c in _commands() if not _mentioned(c, text))
    assert undocumented == []


def test_the_command_check_notices_an_undocumented_command() -> None:
    """The matcher is not vacuous: a name absent from the text is reported."""
    text = "run `sync --once` or `db upgrade`, then `prm-connector -c x.yaml status`"
    names = ("sync", "db upgrade", "status", "export", "mapping scaffold")
    assert [c for c in names if not _mentioned(c, text)] == ["export", "mapping scaffold"]


def test_every_cited_document_is_in_the_repository() -> None:
    """README, code comments and shipped config cite only documents that exist here."""
    problems = {}
    for path in _repo_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        missing = _missing_citations(path, text)
        if OUTSIDE.search(text):
            missing.append("../shared")
        if missing:
            problems[str(path.relative_to(ROOT))] = missing
    assert problems == {}


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("see ARCHITECTURE.md for the loop", ["ARCHITECTURE.md"]),
        ("see docs/architecture.md and docs/model.md", []),
        ("see docs/nowhere.md", ["docs/nowhere.md"]),
        ("https://example.com/guide.md is a URL, not a document here", []),
    ],
)
def test_the_citation_check_tells_present_from_missing(text: str, missing: list[str]) -> None:
    """The matcher finds bare and relative document names and leaves URLs alone."""
    assert _missing_citations(ROOT / "README.md", text) == missing


def test_config_is_the_packaged_defaults_folder() -> None:
    """config/ is a link to connector/defaults: one copy of the default files, not two."""
    config = ROOT / "config"
    assert config.is_symlink()
    assert config.resolve() == (ROOT / "connector" / "defaults").resolve()


def test_init_writes_exactly_the_packaged_defaults(tmp_path: Path) -> None:
    """What `init` writes is byte for byte the package data a wheel installs."""
    packaged = files("connector") / "defaults"
    on_disk = sorted(p.name for p in (ROOT / "connector" / "defaults").iterdir() if p.is_file())
    assert sorted(DEFAULT_FILES) == on_disk
    res = invoke("init", str(tmp_path))
    assert res.exit_code == 0, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == on_disk
    for name in DEFAULT_FILES:
        assert (tmp_path / name).read_bytes() == (packaged / name).read_bytes(), name


def test_every_default_file_is_declared_as_package_data() -> None:
    """A default file the wheel would leave out fails here (pyproject package-data)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["connector.defaults"]
    for path in (ROOT / "connector" / "defaults").iterdir():
        assert any(fnmatch(path.name, g) for g in globs), path.name
