"""A fresh store is created from the models and stamped; that schema is exactly the one the
migrations build, column by column, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from connector.store import current_revision, head_revision, migrate
from connector.store.engine import _alembic_config

from dbfixtures import drop_test_engine, make_test_engine


def _by_migrations(engine: Engine) -> None:
    """Every migration script in turn, as an existing store is upgraded."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def _schema(engine: Engine) -> dict[str, Any]:
    """Tables with their columns in order (type, nullability, default), keys and indexes."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in insp.get_columns(table)
            ],
            "primary_key": insp.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    return out


def test_a_fresh_store_has_the_schema_the_migrations_build(db_kind: str, tmp_path: Path) -> None:
    """migrate() on an empty database equals running every migration, and is at head."""
    (tmp_path / "fresh").mkdir()
    (tmp_path / "migrated").mkdir()
    fresh = make_test_engine(db_kind, tmp_path / "fresh")
    migrated = make_test_engine(db_kind, tmp_path / "migrated")
    try:
        migrate(fresh)
        _by_migrations(migrated)
        assert current_revision(fresh) == current_revision(migrated) == head_revision()
        fresh_schema, migrated_schema = _schema(fresh), _schema(migrated)
        assert set(fresh_schema) == set(migrated_schema)
        for table, shape in migrated_schema.items():
            assert fresh_schema[table] == shape, table
        migrate(fresh)  # and a second migrate is a no-op on it
        assert _schema(fresh) == fresh_schema
    finally:
        drop_test_engine(fresh)
        drop_test_engine(migrated)


def test_a_store_with_tables_is_migrated_not_recreated(db_kind: str, tmp_path: Path) -> None:
    """A database that already holds a table (and no version) goes through the migrations:
    the fresh path never runs over existing tables."""
    eng = make_test_engine(db_kind, tmp_path)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE partner (id INTEGER PRIMARY KEY)"))
        # the initial migration meets the existing table and fails; nothing is stamped
        with pytest.raises(DBAPIError, match="partner"):
            migrate(eng)
        assert current_revision(eng) is None
    finally:
        drop_test_engine(eng)
