"""Migrations: upgrade is idempotent and concurrent-safe; the schema equals the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from procs import start
from sqlalchemy import Column, Engine, Integer, MetaData, inspect, text
from sqlmodel import SQLModel

from connector.store import current_revision, head_revision, migrate
from connector.store.models import ENTITY_MODELS

from dbfixtures import drop_test_engine, make_test_engine


def _diff(engine: Engine, metadata: MetaData) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def test_fresh_database_has_no_revision_until_migrated(db_kind: str, tmp_path: Path) -> None:
    """Given an empty database, current_revision is None; after migrate it is head."""
    eng = make_test_engine(db_kind, tmp_path)
    try:
        assert current_revision(eng) is None
        migrate(eng)
        assert current_revision(eng) == head_revision()
        assert head_revision() == "0016_opsperf"  # one head: the branches joined at 0008
    finally:
        drop_test_engine(eng)


def test_the_heads_migrate_trusts_are_the_scripts_heads() -> None:
    """migrate() skips Alembic for a store stamped at SCHEMA_HEADS: that constant must name
    exactly the heads of migrations/versions (add a migration, update it)."""
    from connector.store.engine import SCHEMA_HEADS

    assert "+".join(sorted(SCHEMA_HEADS)) == head_revision()


def _upgrade_to(eng: Engine, revision: str) -> None:
    """Run the migrations up to ``revision`` (a store as an older release left it)."""
    from alembic import command

    from connector.store.engine import _alembic_config

    cfg = _alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def test_a_store_one_revision_behind_is_upgraded(db_kind: str, tmp_path: Path) -> None:
    """A store at the revision before the head is not mistaken for a current one: migrate()
    runs the last migration and the store ends at the head with its columns."""
    eng = make_test_engine(db_kind, tmp_path)
    try:
        _upgrade_to(eng, "0008_merge")
        assert "partner_type" not in {c["name"] for c in inspect(eng).get_columns("partner")}
        migrate(eng)
        assert current_revision(eng) == head_revision()
        assert "partner_type" in {c["name"] for c in inspect(eng).get_columns("partner")}
    finally:
        drop_test_engine(eng)


def test_outbox_items_queued_before_0010_are_numbered_in_their_old_order(
    db_kind: str, tmp_path: Path
) -> None:
    """A store at 0009 with pending items: 0010_outbox numbers them by (created_at, id), the
    order the dispatcher used before, and items queued afterwards go after them."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from connector.outbox import OutboxWrite, enqueue
    from connector.outbox.queue import ITEMS

    eng = make_test_engine(db_kind, tmp_path)
    try:
        _upgrade_to(eng, "0009_partner_facts")
        with eng.begin() as conn:
            for item_id, minute in (("b", 1), ("a", 1), ("c", 0)):
                conn.execute(text(
                    "INSERT INTO outbox_item (id, entity, sobject, operation, status, attempts,"
                    " created_at, updated_at) VALUES (:id, 'partner', 'Account', 'update',"
                    " 'pending', 0, :at, :at)"),
                    {"id": item_id, "at": datetime(2026, 12, 7, 22, minute, tzinfo=UTC)})
        migrate(eng)
        with eng.begin() as conn:
            enqueue(conn, [OutboxWrite("Account", "update", {"Partner_Points__c": 1.0}, "c:1",
                                       sf_id="001A", entity="partner")])
            rows = conn.execute(select(ITEMS.c.id, ITEMS.c.seq).order_by(ITEMS.c.seq)).all()
        assert [r[0] for r in rows[:3]] == ["c", "a", "b"]
        assert [r[1] for r in rows] == [1, 2, 3, 4]
    finally:
        drop_test_engine(eng)


def test_migrating_twice_is_a_no_op(engine: Engine) -> None:
    """A second migrate keeps the revision and the tables (and their rows)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO partner (sf_id, is_deleted, created_at, updated_at) "
                "VALUES ('001A', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    tables = set(inspect(engine).get_table_names())
    migrate(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) == tables
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM partner")).scalar_one() == 1


def test_migrated_schema_matches_the_models_exactly(engine: Engine) -> None:
    """alembic compare_metadata finds no difference between 0001 and SQLModel.metadata."""
    assert _diff(engine, SQLModel.metadata) == []
    expected = {t for t in SQLModel.metadata.tables} | {"alembic_version"}
    assert set(inspect(engine).get_table_names()) == expected
    assert set(ENTITY_MODELS) <= expected


def test_schema_comparison_does_notice_a_difference(engine: Engine) -> None:
    """The comparison above can fail: an extra model column shows up as a difference."""
    changed = MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["partner"].append_column(Column("not_migrated", Integer))
    diffs = _diff(engine, changed)
    assert [d[0] for d in diffs if isinstance(d, tuple)] == ["add_column"]


def migrate_and_print(url: str) -> None:
    """In a child process: migrate the store at ``url`` and print its revision."""
    from connector.store import current_revision, make_engine, migrate

    engine = make_engine(url)
    migrate(engine)
    print(current_revision(engine), flush=True)


def test_concurrent_migrations_both_succeed(engine: Engine, tmp_path: Path) -> None:
    """Two processes migrating one fresh database at once both end at head, without error."""
    with engine.begin() as conn:  # start from nothing: undo the fixture's migration
        conn.execute(text("DROP TABLE alembic_version"))
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(text(f'DROP TABLE "{table.name}"'))
    url = engine.url.render_as_string(hide_password=False)
    # from the forkserver: both start within milliseconds of each other
    procs = [start(migrate_and_print, url, folder=tmp_path) for _ in range(2)]
    for proc in procs:
        assert proc.wait(120) == 0, proc.stderr
        assert proc.stdout.strip() == head_revision()
    assert _diff(engine, SQLModel.metadata) == []


def test_downgrade_to_base_then_upgrade_again(engine: Engine) -> None:
    """0001's downgrade drops every table it made; upgrading again restores the schema."""
    from alembic import command

    from connector.store.engine import _alembic_config

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert inspect(engine).get_table_names() == ["alembic_version"]
    migrate(engine)
    assert _diff(engine, SQLModel.metadata) == []
