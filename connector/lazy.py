"""Package names imported on first use (PEP 562), so importing one part of a package does not
pull in the rest: ``connector.store``, ``connector.triggers`` and ``connector.outbox`` use it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package``: ``homes`` maps a public name to the
    submodule that defines it (a name equal to its submodule's is the submodule itself). The
    value is cached in the package's namespace, so each name is looked up once."""
    namespace = vars(import_module(package))

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = import_module(f"{package}.{home}")
        value = module if name == home else getattr(module, name)
        namespace[name] = value
        return value

    return __getattr__
