"""The store's engine factory and its schema migrations (Alembic, run programmatically)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from connector.redact import redact_url
from connector.store.failures import StoreError, translate

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "StoreError",
    "check_integrity",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "normalise_url",
    "read_connection",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision(s) in migrations/versions. A store already there needs no Alembic at all
# (importing it and reading the scripts cost ~0.15 s a command); tests/store/test_migrations.py
# fails when a new migration is added without updating this.
SCHEMA_HEADS: tuple[str, ...] = ("0016_opsperf",)
# Alembic's version table, as Alembic itself creates it (name, column, primary key name).
_VERSION_TABLE = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option: a connection that only reads may open a deferred SQLite transaction
# (no write lock), e.g. a long export: ``engine.connect().execution_options(sqlite_deferred=True)``.
SQLITE_DEFERRED_OPTION = "sqlite_deferred"


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` as psycopg 3 and keep other URLs as they are."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _json_dumps(value: Any) -> str:
    """JSON column text; dates and datetimes as ISO text, Decimals as floats."""
    return orjson.dumps(value, default=_json_default).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for the store: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    # orjson: several times faster than json for the snapshot and extra columns.
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if backend == "sqlite":
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)
    raise ValueError(f"unsupported database URL scheme '{backend}' (use sqlite or postgresql)")


def _configure_sqlite(engine: Engine) -> None:
    """Pragmas on every connection (temporary storage in memory); transactions we begin
    ourselves.

    The sqlite3 module would start transactions lazily (only before a write), so reads made
    earlier in a transaction would not be in it. Instead the driver is left in autocommit and
    each transaction starts with BEGIN IMMEDIATE: it takes the write lock up front, so two
    writers queue on busy_timeout instead of failing with "database is locked" midway.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            # Savepoint journals in memory: a page's rows are written inside a savepoint (so a
            # row the store refuses can be isolated), and a file-backed journal copied every
            # page the upsert touched to a temporary file first (~40% of a backfill's inserts).
            cur.execute("PRAGMA temp_store = MEMORY")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        deferred = conn.get_execution_options().get(SQLITE_DEFERRED_OPTION, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def read_connection(engine: Engine) -> Connection:
    """A connection for reading only (status, export): on SQLite it takes no write lock.

    Use it as ``with read_connection(engine) as conn:``. Writing through it on SQLite may fail
    with "database is locked" instead of waiting; PostgreSQL connections are unaffected.
    """
    return engine.connect().execution_options(**{SQLITE_DEFERRED_OPTION: True})


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _joined(heads: Sequence[str]) -> str | None:
    # While feature branches of the schema are open there may be several heads: "a+b".
    return "+".join(sorted(heads)) or None


def head_revision() -> str | None:
    """The newest revision(s) the code knows, ``+``-joined when there are several heads."""
    from alembic.script import ScriptDirectory

    return _joined(ScriptDirectory.from_config(_alembic_config()).get_heads())


def current_revision(engine: Engine) -> str | None:
    """The revision(s) the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return _joined(MigrationContext.configure(conn).get_current_heads())


def check_integrity(engine: Engine) -> None:
    """Refuse a damaged SQLite store: ``PRAGMA quick_check`` (cheap; a no-op on PostgreSQL).

    Without it a damaged file is only noticed when a query happens to touch a bad page, which
    may be never in a quiet cycle: the run would exit 0 on a store that cannot be trusted.
    """
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("PRAGMA quick_check(3)")
        problems = [" ".join(str(r[0]).split()) for r in rows]
    if problems != ["ok"]:
        url = redact_url(engine.url.render_as_string(hide_password=False))
        raise StoreError(
            f"the SQLite store at {url} is damaged ({'; '.join(problems)[:200]}); restore it "
            "from a backup, or move it aside and run `prm-connector backfill` to rebuild it "
            "from Salesforce"
        )


def _check_known_revisions(conn: Connection, cfg: Config, url: str) -> None:
    """A store migrated by a newer prm-connector has revisions this one does not know."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = MigrationContext.configure(conn).get_current_heads()
    known = {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}
    unknown = [h for h in heads if h not in known]
    if unknown:
        raise StoreError(
            f"the store at {redact_url(url)} is at schema revision {', '.join(unknown)}, which "
            "this prm-connector does not know: a newer version migrated it. Upgrade prm-connector "
            "(or point database.url at another store); downgrading the store is not supported"
        )


def _stamped_heads(conn: Connection, tables: Sequence[str]) -> set[str] | None:
    """The revisions in the version table, or None when the store has none."""
    if _VERSION_TABLE.name not in tables:
        return None
    return set(conn.execute(select(_VERSION_TABLE.c.version_num)).scalars())


def _create_fresh(conn: Connection) -> None:
    """An empty store: the tables as the models declare them, stamped at the newest revision.

    The schema is the one every migration in turn would build (tests/store compares the two
    on SQLite and PostgreSQL), in a fraction of the time: a first ``sync`` starts sooner.
    """
    from sqlmodel import SQLModel

    import connector.store.bookkeeping
    import connector.store.models
    import connector.store.programs
    import connector.store.trigger_log  # noqa: F401  (these register the tables)

    SQLModel.metadata.create_all(conn)
    _VERSION_TABLE.create(conn)
    conn.execute(_VERSION_TABLE.insert(), [{"version_num": h} for h in SCHEMA_HEADS])


def migrate(engine: Engine) -> None:
    """Check the store, then upgrade it to the newest schema; a no-op when it is there already.

    Safe to call on every start and from several processes at once: PostgreSQL serialises on
    a transaction-level advisory lock (per schema); SQLite on BEGIN IMMEDIATE. Either way the
    second caller reads the version table only after the first has committed. Failures a user
    can act on (server down, missing database, damaged file, disk full, permissions, unknown
    revision) raise ``StoreError`` with one line saying what to do.
    """
    url = engine.url.render_as_string(hide_password=False)
    try:
        check_integrity(engine)
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text(
                        "SELECT pg_advisory_xact_lock(hashtext('prm-connector:migrate:' "
                        "|| current_schema()))"
                    )
                )
            tables = inspect(conn).get_table_names()
            if not tables:
                _create_fresh(conn)
                return
            if _stamped_heads(conn, tables) == set(SCHEMA_HEADS):
                return  # at the newest schema: the common case, without loading Alembic
            from alembic import command

            cfg = _alembic_config()
            _check_known_revisions(conn, cfg, url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")
    except DBAPIError as err:
        raise (translate(err, url) or err) from err
