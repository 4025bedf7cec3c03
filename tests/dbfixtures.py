"""Test databases for store and sync tests: a temp SQLite file, or an isolated PostgreSQL schema.

Registered for the whole suite by ``tests/conftest.py`` (``pytest_plugins``), so every test can
ask for ``db_kind``, ``engine`` or ``store``; conftests that import them by name still work.

``db_kind`` runs each test on "sqlite" and, when ``PRM_TEST_DATABASE_URL`` is set, on
"postgres". Every PostgreSQL engine works in a schema of its own (first on its ``search_path``,
so Alembic's version table lives there too), so test processes sharing one database never see
each other's tables.

Migrations run once per test session, not once per test:

- SQLite: a template file is migrated once; each test gets a copy of it.
- PostgreSQL: migrated schemas are pooled. A test takes one (migrating a new one when the pool
  is empty); afterwards its rows are deleted, its sequences restarted and the schema renamed,
  and it goes back to the pool only if it is still exactly the migrated schema (same columns,
  same revision); a test that changed the schema gets its schema dropped instead.

``make_test_url``/``make_test_engine`` give an empty, *unmigrated* database (for tests of
migrating itself); ``drop_test_engine`` disposes such an engine and drops its schema.
"""

from __future__ import annotations

import os
import shutil
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from connector.store import make_engine, migrate

__all__ = [
    "DB_KINDS",
    "PG_ENV",
    "db_kind",
    "drop_schema",
    "drop_test_engine",
    "engine",
    "make_test_engine",
    "make_test_url",
    "migrated_store",
    "store",
]

PG_ENV = "PRM_TEST_DATABASE_URL"
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
_SCHEMAS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set")
    return url


def _schema_url(schema: str) -> str:
    url = make_url(_pg_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


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
    return _schema_url(schema), schema


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


def _signature(conn: Connection) -> str:
    """What makes a migrated schema that schema: its columns and its Alembic revisions."""
    columns = conn.execute(
        text(
            "SELECT md5(string_agg(table_name || '.' || column_name || ':' || data_type || ':' "
            "|| is_nullable, ',' ORDER BY table_name, column_name)) "
            "FROM information_schema.columns WHERE table_schema = current_schema()"
        )
    ).scalar()
    revisions = conn.execute(
        text("SELECT string_agg(version_num, ',' ORDER BY version_num) FROM alembic_version")
    ).scalar()
    return f"{columns}/{revisions}"


# Empties the current schema in one round trip: DELETE, not TRUNCATE (on a few rows it is ten
# times cheaper), every sequence restarted. Run with session_replication_role = replica, which
# skips the foreign-key triggers, so the order of the tables does not matter.
_EMPTY_SQL = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables
           WHERE schemaname = current_schema() AND tablename <> 'alembic_version' LOOP
    EXECUTE format('DELETE FROM %I', r.tablename);
  END LOOP;
  FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() LOOP
    PERFORM setval(format('%I', r.sequencename)::regclass, 1, false);
  END LOOP;
END
$$
"""


@dataclass
class _PgPool:
    """Migrated PostgreSQL schemas, reused across the tests of one session."""

    free: list[str] = field(default_factory=list)
    made: list[str] = field(default_factory=list)
    signature: str | None = None
    _admin: Engine | None = None  # one pooled connection that empties schemas given back

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        url, schema = make_test_url("postgres", Path())
        assert schema is not None
        self.made.append(schema)
        eng = make_engine(url)
        try:
            migrate(eng)
            if self.signature is None:
                with eng.connect() as conn:
                    self.signature = _signature(conn)
        finally:
            eng.dispose()
        return schema

    def give_back(self, schema: str) -> None:
        """Empty ``schema`` and pool it again under a new name, or drop it if the test
        changed its shape.

        The new name matters: state keyed by the schema's name (the run lock's advisory key)
        that a leftover connection might still hold cannot reach the next test.
        """
        if self._admin is None:
            self._admin = make_engine(_pg_url())
        renamed = f"prm_test_{uuid.uuid4().hex[:12]}"
        try:
            with self._admin.begin() as conn:
                conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
                # A process the test started and killed may still hold a lock for a moment.
                conn.execute(text("SET LOCAL lock_timeout = '5s'"))
                if _signature(conn) != self.signature:
                    raise LookupError("the test changed the schema")
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                conn.execute(text(_EMPTY_SQL))
                conn.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{renamed}"'))
        except Exception:
            self.made.remove(schema)
            drop_schema(schema)
            return
        self.made[self.made.index(schema)] = renamed
        self.free.append(renamed)

    def close(self) -> None:
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None
        for schema in self.made:
            drop_schema(schema)
        self.made.clear()
        self.free.clear()


@pytest.fixture(scope="session")
def _pg_pool() -> Iterator[_PgPool]:
    pool = _PgPool()
    try:
        yield pool
    finally:
        if pool.made:
            pool.close()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store migrated once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("store-template") / "store.db"
    eng = make_engine(f"sqlite:///{path}")
    migrate(eng)
    eng.dispose()  # the last close checkpoints the WAL into the file
    assert not path.with_name("store.db-wal").exists()
    return path


@pytest.fixture(params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    """The database kind: "sqlite", and "postgres" when PRM_TEST_DATABASE_URL is set."""
    kind: str = request.param
    if kind == "postgres":
        _pg_url()
    return kind


@pytest.fixture
def migrated_store(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a migrated, empty store of ``db_kind`` (another process may open it too)."""
    if db_kind == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        shutil.copyfile(template, tmp_path / "store.db")
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    pool: _PgPool = request.getfixturevalue("_pg_pool")
    schema = pool.take()
    try:
        yield _schema_url(schema)
    finally:
        pool.give_back(schema)


@pytest.fixture
def engine(migrated_store: str) -> Iterator[Engine]:
    """An engine on a migrated, empty store."""
    eng = make_engine(migrated_store)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def store(migrated_store: str) -> Iterator[tuple[Engine, str]]:
    """A migrated, empty store and its URL (a second process can open the URL too)."""
    eng = make_engine(migrated_store)
    try:
        yield eng, migrated_store
    finally:
        eng.dispose()
