"""The local PRM store: entity tables, sync bookkeeping, migrations, batch repository, locks.

The names below load on first use (PEP 562), so a command that reads two tables does not pay
for the whole package: ``from connector.store.models import entity_table`` imports the models
alone. Code that needs every table registered on ``SQLModel.metadata`` (migrations, a fresh
store) imports the table modules itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.store import repo
    from connector.store.engine import (
        current_revision,
        head_revision,
        make_engine,
        migrate,
        read_connection,
    )
    from connector.store.locks import acquire_run_lock
    from connector.store.models import ENTITY_MODELS, column_types, lookup_targets

_WHERE = {
    "ENTITY_MODELS": "connector.store.models",
    "acquire_run_lock": "connector.store.locks",
    "column_types": "connector.store.models",
    "current_revision": "connector.store.engine",
    "head_revision": "connector.store.engine",
    "lookup_targets": "connector.store.models",
    "make_engine": "connector.store.engine",
    "migrate": "connector.store.engine",
    "read_connection": "connector.store.engine",
}

__all__ = [
    "ENTITY_MODELS",
    "acquire_run_lock",
    "column_types",
    "current_revision",
    "head_revision",
    "lookup_targets",
    "make_engine",
    "migrate",
    "read_connection",
    "repo",
]


def __getattr__(name: str) -> Any:
    if name == "repo":
        value: Any = importlib.import_module("connector.store.repo")
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
    else:
        raise AttributeError(f"module 'connector.store' has no attribute {name!r}")
    globals()[name] = value
    return value
