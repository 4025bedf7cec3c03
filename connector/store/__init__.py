"""The local PRM store: entity tables, sync bookkeeping, migrations, batch repository, locks.

The names below load on first use (PEP 562), so a command that reads two tables does not pay
for the whole package: ``from connector.store.models import entity_table`` imports the models
alone. Code that needs every table registered on ``SQLModel.metadata`` (migrations, a fresh
store) imports the table modules itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.lazy import lazy_names

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

_HOME = {
    "ENTITY_MODELS": "models", "column_types": "models", "lookup_targets": "models",
    "acquire_run_lock": "locks",
    "current_revision": "engine", "head_revision": "engine", "make_engine": "engine",
    "migrate": "engine", "read_connection": "engine",
    "repo": "repo",
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


__getattr__ = lazy_names(__name__, _HOME)
