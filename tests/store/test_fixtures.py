"""The suite's pooled PostgreSQL stores: every test gets an empty, exactly migrated schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, insert, inspect, select, text

from connector.store import current_revision, head_revision, make_engine
from connector.store.locks import acquire_run_lock
from connector.store.models import entity_table

from dbfixtures import _pg_url, _PgPool, _schema_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def pool() -> Iterator[_PgPool]:
    _pg_url()  # skips without PRM_TEST_DATABASE_URL
    own = _PgPool()
    try:
        yield own
    finally:
        own.close()


def test_a_schema_given_back_comes_out_again_empty_and_with_fresh_ids(pool: _PgPool) -> None:
    """Rows a test wrote are gone for the next one, and ids start again at 1."""
    schema = pool.take()
    eng = make_engine(_schema_url(schema))
    partner = entity_table("partner")
    with eng.begin() as conn:
        conn.execute(insert(partner).values(sf_id="001000000000001AAA", name="Acme"))
    eng.dispose()
    pool.give_back(schema)

    reused = pool.take()
    assert reused != schema and pool.made == [reused]  # renamed and reused, not migrated again
    eng = make_engine(_schema_url(reused))
    with eng.begin() as conn:
        assert conn.execute(select(func.count()).select_from(partner)).scalar() == 0
        new_id = conn.execute(
            insert(partner).values(sf_id="001000000000002AAA").returning(partner.c.id)
        ).scalar()
    assert new_id == 1
    assert current_revision(eng) == head_revision()
    eng.dispose()


def test_a_schema_the_test_altered_is_dropped_not_reused(pool: _PgPool) -> None:
    """A test that changed the tables does not hand its changes to the next test."""
    schema = pool.take()
    eng = make_engine(_schema_url(schema))
    with eng.begin() as conn:
        conn.execute(text('ALTER TABLE "partner" ADD COLUMN "left_over" integer'))
    eng.dispose()
    pool.give_back(schema)

    assert schema not in pool.free and schema not in pool.made
    fresh = pool.take()
    assert fresh != schema
    eng = make_engine(_schema_url(fresh))
    assert "left_over" not in {c["name"] for c in inspect(eng).get_columns("partner")}
    eng.dispose()
    base = make_engine(_pg_url())
    with base.connect() as conn:
        gone = conn.execute(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        ).scalar()
    base.dispose()
    assert gone == 0


def test_a_run_lock_a_leftover_connection_holds_does_not_reach_the_next_test(
    pool: _PgPool,
) -> None:
    """The run lock's key includes the schema's name; a reused schema gets a new one."""
    schema = pool.take()
    leftover = make_engine(_schema_url(schema))
    with acquire_run_lock(leftover, "sync") as held:
        assert held
        pool.give_back(schema)
        reused = pool.take()
        eng = make_engine(_schema_url(reused))
        with acquire_run_lock(eng, "sync") as again:
            assert again
        eng.dispose()
    leftover.dispose()
