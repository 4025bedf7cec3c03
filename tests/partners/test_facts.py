"""The partner layer's fact engine: one meaning per fact, grouped queries, only what is asked
for, and every fact readable by segments."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, event, insert

from connector.partners.facts import (
    BASE_FACTS,
    LEDGER,
    Fact,
    FactEnv,
    FactGroup,
    PartnerContext,
    compute_facts,
)
from connector.programs import loads_programs
from connector.programs.evaluate import segments_for
from connector.store.models import entity_table

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # fiscal (calendar) Q4 2026


def _row(conn: Connection, entity: str, **values: Any) -> int:
    values = {"is_deleted": False, "created_at": NOW, "updated_at": NOW, **values}
    return int(conn.execute(insert(entity_table(entity)).values(**values))
               .inserted_primary_key[0])


def _seed(engine: Engine, n: int = 1) -> list[int]:
    with engine.begin() as conn:
        program = _row(conn, "program", name="Partner Program")
        # ranks of this store's level table, not the default org's 1..4
        elite = _row(conn, "level", name="Elite", program=program, rank=7.0)
        _row(conn, "level", name="Base", program=program, rank=2.0)
        pids = []
        for i in range(n):
            pid = _row(conn, "partner", name=f"P{i}", status="Active", tier="Base",
                       points=40.0)
            _row(conn, "membership", partner=pid, program=program, level=elite)
            conn.execute(insert(LEDGER).values(partner_id=pid, points=250, reason="r",
                                               cause="c", awarded_at=NOW))
            _row(conn, "deal", name="d", partner=pid, amount=1000.0, is_won=True,
                 is_closed=True, stage="Closed Won", close_date=date(2026, 5, 10))
            _row(conn, "mdf_allocation", title="a", partner=pid, amount=500.0,
                 prm_key=f"k{i}")
            _row(conn, "mdf_request", partner=pid, status="Approved", requested_amount=120.0)
            pids.append(pid)
    return pids


def test_each_fact_has_one_meaning(engine: Engine) -> None:
    """tier and tier_rank from the membership's level in the level table (not the tier
    mirror, not a fixed rank table); points from the ledger (not the column); revenue by
    fiscal quarter; MDF allocated minus approved."""
    [pid] = _seed(engine)
    with engine.connect() as conn:
        f = compute_facts(conn, FactEnv(NOW), [pid])[pid]
    assert (f["tier"], f["tier_rank"]) == ("Elite", 7.0)
    assert f["points"] == 250.0
    assert f["closed_won_two_quarters_ago"] == 1000.0  # May is Q2; now is Q4
    assert f["closed_won_this_quarter"] == 0.0 and f["closed_won_trailing_4q"] == 1000.0
    assert f["mdf_remaining"] == 380.0


def test_facts_are_grouped_queries_and_only_those_asked_for(engine: Engine) -> None:
    """Every fact for 1 or 30 partners costs the same number of statements (one per group,
    not one per fact per partner); asking for one fact runs its group alone."""
    pids = _seed(engine, 30)
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with engine.connect() as conn:
            compute_facts(conn, FactEnv(NOW), pids[-1:])  # the connection's first use
            statements.clear()
            compute_facts(conn, FactEnv(NOW), pids[:1])
            one = len(statements)
            statements.clear()
            got = compute_facts(conn, FactEnv(NOW), pids)
            assert len(statements) == one
            assert len(got) == 30
            statements.clear()
            only = compute_facts(conn, FactEnv(NOW), pids, needed={"mdf_remaining"})
            assert len(statements) == 3  # the partner rows, allocations, approved requests
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert set(only[pids[0]]) == {"id", "sf_id", "name", "status", "mdf_remaining"}
    assert one <= 2 * len(BASE_FACTS.groups)


def test_segments_read_every_fact(engine: Engine) -> None:
    """mdf_remaining and closed_won_two_quarters_ago were not readable by segments (a second
    fact list gated them): now a segment is checked against the whole catalogue."""
    spec = loads_programs("""\
segments:
  funded: {when: "partner.mdf_remaining > 100.0 && partner.closed_won_two_quarters_ago > 0.0"}
programs: {}
""")
    [pid] = _seed(engine)
    with engine.connect() as conn:
        f = compute_facts(conn, FactEnv(NOW), [pid])[pid]
    assert segments_for(spec, f) == (["funded"], {})


def test_level_ranks_are_the_level_tables(engine: Engine) -> None:
    """`level_ranks` reads the store's levels (what ladders and `min_tier` compare by), the
    same ranks `tier_rank` reports; nothing before the levels are synced."""
    from connector.partners.facts import level_ranks

    with engine.connect() as conn:
        assert level_ranks(conn) == {}
    [pid] = _seed(engine)
    with engine.connect() as conn:
        assert level_ranks(conn) == {"Elite": 7.0, "Base": 2.0}
        assert level_ranks(conn, ["Base"]) == {"Base": 2.0}
        facts = compute_facts(conn, FactEnv(NOW), [pid], needed={"tier", "tier_rank"})
    assert facts[pid]["tier_rank"] == 7.0


def test_a_map_is_forgotten_only_when_a_table_it_is_read_from_changed(engine: Engine) -> None:
    """A registration decision (deal_registration rows) leaves a map of status and
    certifications cached, and forgets one holding active_registrations; an action that
    does not say what it changed forgets every map."""
    [pid] = _seed(engine)
    with engine.connect() as conn:
        narrow = PartnerContext(conn, FactEnv(NOW), needed={"status", "certifications"})
        wide = PartnerContext(conn, FactEnv(NOW), needed={"status", "active_registrations"})
        for context in (narrow, wide):
            context.get(pid)
            context.invalidate(pid, {"deal_registration"})
            context.get(pid)
        assert (narrow.computed, wide.computed) == (1, 2)
        narrow.invalidate(pid)
        narrow.get(pid)
        assert narrow.computed == 2
    assert BASE_FACTS.reads({"certifications"}) == {"partner", "certification"}
    assert BASE_FACTS.extended(FactGroup((Fact("x", "int", "x"),), lambda *a: None)).reads(
        {"x"}) is None  # a group that does not say what it reads: any change counts
