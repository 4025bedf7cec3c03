"""Packages whose names load on first use: the part asked for, not the whole package."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded_after(statement: str, modules: list[str]) -> dict[str, bool]:
    code = (f"import sys\n{statement}\n"
            f"print(','.join(str(m in sys.modules) for m in {modules!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return dict(zip(modules, (v == "True" for v in out.stdout.strip().split(",")), strict=True))


def test_one_store_module_does_not_import_the_repository_or_alembic() -> None:
    loaded = _loaded_after("from connector.store.models import entity_table",
                           ["connector.store.repo", "connector.store.journal", "alembic"])
    assert loaded == {"connector.store.repo": False, "connector.store.journal": False,
                      "alembic": False}


def test_names_and_submodules_load_when_asked_and_unknown_names_fail() -> None:
    import connector.store as store
    import connector.triggers as triggers

    assert store.make_engine.__module__ == "connector.store.engine"
    assert store.repo.__name__ == "connector.store.repo"  # a submodule by its own name
    assert triggers.load_triggers.__module__ == "connector.triggers.loader"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = store.nope  # type: ignore[attr-defined]
