"""Every benchmark script still imports: a bench that names a module or function the code no
longer has fails here, not the next time someone measures with it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_bench_script_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the script (not running its main) resolves every import it makes."""
    monkeypatch.syspath_prepend(str(BENCH))  # scripts import bench/_emulator.py as a sibling
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)) or path.name.startswith("_")
