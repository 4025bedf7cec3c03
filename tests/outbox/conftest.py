"""Outbox tests run on SQLite and, when PRM_TEST_DATABASE_URL is set, on PostgreSQL; the
write-back tests use a real emulator over HTTPS (one per module)."""

from dbfixtures import db_kind, engine
from sync.conftest import emulator, store

__all__ = ["db_kind", "emulator", "engine", "store"]
