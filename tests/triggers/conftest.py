"""Trigger tests run on SQLite and, when PRM_TEST_DATABASE_URL is set, on PostgreSQL."""

from dbfixtures import db_kind, engine
from sync.conftest import emulator

__all__ = ["db_kind", "emulator", "engine"]
