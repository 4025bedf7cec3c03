"""Alembic environment: runs on the connection migrate() hands over, or on sqlalchemy.url."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

import connector.store.bookkeeping
import connector.store.models
import connector.store.programs
import connector.store.trigger_log  # noqa: F401  (these register the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection when given one (migrate()); otherwise open our own."""
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("PRM_DATABASE_URL")
    if not url:
        raise RuntimeError("set PRM_DATABASE_URL (or sqlalchemy.url in alembic.ini)")
    from connector.store.engine import make_engine

    engine = make_engine(url)
    with engine.begin() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
