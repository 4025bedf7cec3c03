"""Import the CEL evaluator (``common-expression-language``) without its interactive shell.

The ``cel`` package's ``__init__`` imports ``cel.cli``, a REPL built on prompt_toolkit and
pygments, before the compiled evaluator: about a tenth of a second that every command running
triggers or programs paid for a shell it never opens. ``defer_cel_shell()`` puts a stand-in for
``cel.cli`` in ``sys.modules`` before ``cel`` is first imported; the real module is loaded the
first time one of its names is used (``python -m cel`` still works). When the package is laid
out differently, nothing is registered and ``import cel`` behaves as it always did.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["defer_cel_shell"]

SHELL = "cel.cli"


class _DeferredShell(ModuleType):
    """``cel.cli`` until a name of it is asked for; then the real module, loaded once."""

    def __init__(self, path: Path) -> None:
        super().__init__(SHELL)
        self._path = path
        self._real: ModuleType | None = None

    def __getattr__(self, name: str) -> Any:  # only for names the stand-in does not have
        if name.startswith("__") or name in ("_path", "_real"):
            raise AttributeError(name)
        return getattr(self._load(), name)

    def _load(self) -> ModuleType:
        if self._real is None:
            spec = importlib.util.spec_from_file_location(SHELL, self._path)
            assert spec is not None and spec.loader is not None
            real = importlib.util.module_from_spec(spec)
            sys.modules[SHELL] = real
            try:
                spec.loader.exec_module(real)
            except BaseException:
                sys.modules[SHELL] = self
                raise
            package = sys.modules.get("cel")
            if package is not None:
                package.cli = real  # type: ignore[attr-defined]
            self._real = real
        return self._real


def defer_cel_shell() -> None:
    """Register the stand-in, unless ``cel`` is imported already (then there is no gain)."""
    if "cel" in sys.modules or SHELL in sys.modules:
        return
    try:
        package = importlib.util.find_spec("cel")  # finds it without running its __init__
    except (ImportError, ValueError):
        return
    if package is None or not package.submodule_search_locations:
        return
    for folder in package.submodule_search_locations:
        path = Path(folder) / "cli.py"
        if path.is_file():
            sys.modules[SHELL] = _DeferredShell(path)
            return
