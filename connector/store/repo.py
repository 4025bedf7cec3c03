"""The store's batch repository (SQLAlchemy Core), as docs/interfaces.md names it.

Every function takes an open ``Connection`` and runs inside the caller's transaction, so one
sync cycle commits rows, snapshots, diffs and cursor together (invariant 2). Work is done in
batches (executemany, IN lists of at most 900 ids): no per-row round trips.
"""

from connector.store.journal import (
    DeadLetterRow,
    SyncStateRow,
    add_dead_letter,
    all_states,
    count_dead_letters,
    dead_letters_by_entity,
    finish_sync_run,
    get_state,
    latest_api_usage,
    latest_sync_run,
    list_dead_letters,
    list_sync_runs,
    record_api_usage,
    resolve_dead_letters,
    save_state,
    start_sync_run,
)
from connector.store.records import (
    RecordRow,
    SnapshotRow,
    count_entity,
    iter_entity,
    live_snapshot_ids,
    load_snapshots,
    mark_deleted,
    resolve_links,
    sf_ids_by_local,
    upsert_records,
)
from connector.store.sqlutil import from_json_safe, to_json_safe

__all__ = [
    "DeadLetterRow",
    "RecordRow",
    "SnapshotRow",
    "SyncStateRow",
    "add_dead_letter",
    "all_states",
    "count_dead_letters",
    "count_entity",
    "dead_letters_by_entity",
    "finish_sync_run",
    "from_json_safe",
    "get_state",
    "iter_entity",
    "latest_api_usage",
    "latest_sync_run",
    "list_dead_letters",
    "list_sync_runs",
    "live_snapshot_ids",
    "load_snapshots",
    "mark_deleted",
    "record_api_usage",
    "resolve_dead_letters",
    "resolve_links",
    "save_state",
    "sf_ids_by_local",
    "start_sync_run",
    "to_json_safe",
    "upsert_records",
]
