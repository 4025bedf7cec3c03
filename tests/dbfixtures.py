"""Test databases for store and sync tests: a temp SQLite file, or an isolated PostgreSQL schema.

Use from a conftest::

    from dbfixtures import db_kind, engine  # noqa: F401  (pytest fixtures)

``db_kind`` runs each test on "sqlite" and, when ``PRM_TEST_DATABASE_URL`` is set, on
"postgres". Every PostgreSQL engine gets a fresh schema of its own (first on its
``search_path``, so Alembic's version table lives there too); it is dropped afterwards, so
test processes sharing one database never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from connector.store import make_engine, migrate

__all__ = [
    "DB_KINDS",
    "PG_ENV",
    "db_kind",
    "drop_test_engine",
    "engine",
    "make_test_engine",
    "make_test_url",
]

PG_ENV = "PRM_TEST_DATABASE_URL"
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_SCHEMAS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    return url


def make_test_url(kind: str, tmp_path: Path) -> tuple[str, str | None]:
    """A URL for a new empty database of ``kind``, and the PG schema it uses (None on SQLite).

    The schema exists when this returns; a second process can open the same URL.
    """
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}", None
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}")
    base = make_engine(_pg_url())
    schema = f"prm_test_{uuid.uuid4().hex[:12]}"
    with base.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    base.dispose()
    url = make_url(_pg_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def make_test_engine(kind: str, tmp_path: Path) -> Engine:
    """An engine on a new, empty, unmigrated database of ``kind`` ("sqlite" or "postgres")."""
    url, schema = make_test_url(kind, tmp_path)
    eng = make_engine(url)
    if schema is not None:
        _SCHEMAS[eng] = schema
    return eng


def drop_test_engine(eng: Engine) -> None:
    """Dispose ``eng`` and drop its PostgreSQL schema, if it has one."""
    schema = _SCHEMAS.pop(eng, None)
    eng.dispose()
    if schema is not None:
        drop_schema(schema)


def drop_schema(schema: str) -> None:
    """Drop a schema made by make_test_url."""
    base = make_engine(_pg_url())
    with base.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    base.dispose()


@pytest.fixture(params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    """The database kind: "sqlite", and "postgres" when PRM_TEST_DATABASE_URL is set."""
    kind: str = request.param
    if kind == "postgres":
        _pg_url()
    return kind


@pytest.fixture
def engine(db_kind: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated store on a fresh database; dropped after the test."""
    eng = make_test_engine(db_kind, tmp_path)
    try:
        migrate(eng)
        yield eng
    finally:
        drop_test_engine(eng)
