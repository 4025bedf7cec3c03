"""The local PRM store: entity tables, sync bookkeeping, migrations, batch repository, locks."""

from connector.store import programs, repo, trigger_log  # noqa: F401  (registers tables)
from connector.store.engine import (
    current_revision,
    head_revision,
    make_engine,
    migrate,
    read_connection,
)
from connector.store.locks import acquire_run_lock
from connector.store.models import ENTITY_MODELS, column_types, lookup_targets

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
