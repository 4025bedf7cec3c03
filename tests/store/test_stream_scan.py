"""Filtered reads of the change log: the filter skips entries, the offset still passes them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from connector.store.diffs import RecordDiff
from connector.store.stream import (
    append_changes,
    commit_offset,
    consumer_lag,
    count_changes,
    latest_seq,
    scan_changes,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _diff(
    sf_id: str,
    entity: str = "deal",
    source: str = "backfill",
    op: str = "created",
    echo: bool = False,
) -> RecordDiff:
    return RecordDiff(
        entity=entity,
        sf_id=sf_id,
        op=op,  # type: ignore[arg-type]
        old=None,
        new={"name": sf_id},
        changed=("name",),
        origin="005X",
        modstamp=T0,
        source=source,
        echo=echo,
    )


def _seed(engine: Engine) -> None:
    diffs = [_diff(f"D{i}") for i in range(6)]
    diffs.insert(2, _diff("P1", entity="partner", source="poll"))
    diffs.insert(5, _diff("P2", entity="partner", source="poll", echo=True))
    diffs.append(_diff("P3", entity="partner", source="poll", op="deleted"))
    with engine.begin() as conn:
        append_changes(conn, diffs, cycle_id="c1")


def test_a_filtered_scan_returns_matches_and_moves_past_the_skipped(engine: Engine) -> None:
    """Only live partner creations pass; the range examined is the whole log."""
    _seed(engine)
    with engine.begin() as conn:
        batch = scan_changes(
            conn, "t", entities={"partner"}, sources={"poll"}, ops={"created"}, echo=False
        )
        assert [e.sf_id for e in batch.events] == ["P1"]
        assert (batch.start, batch.upto) == (0, latest_seq(conn))
        assert count_changes(conn, batch.start, batch.upto) == (9, 1)
        commit_offset(conn, "t", batch.upto)
    with engine.begin() as conn:
        assert scan_changes(conn, "t", entities={"partner"}).empty


def test_a_full_batch_ends_at_its_last_match_so_nothing_is_skipped(engine: Engine) -> None:
    """With limit 1 the examined range stops at the match: the next scan starts after it."""
    _seed(engine)
    seen: list[str] = []
    upto: list[int] = []
    while True:
        with engine.begin() as conn:
            batch = scan_changes(conn, "t", limit=1, entities={"partner"})
            if batch.empty:
                break
            seen += [e.sf_id or "" for e in batch.events]
            upto.append(batch.upto)
            commit_offset(conn, "t", batch.upto)
    assert seen == ["P1", "P2", "P3"]
    assert upto == sorted(upto) and len(set(upto)) == len(upto)


def test_a_window_bounds_the_range_examined(engine: Engine) -> None:
    """A window of 4 sequences examines at most 4 entries per scan, matches or not."""
    _seed(engine)
    ranges = []
    while True:
        with engine.begin() as conn:
            batch = scan_changes(conn, "t", window=4, entities=set())
            if batch.empty:
                break
            ranges.append(count_changes(conn, batch.start, batch.upto)[0])
            assert batch.events == []
            commit_offset(conn, "t", batch.upto)
    assert ranges == [4, 4, 1]


def test_consumer_lag_counts_what_each_consumer_has_yet_to_handle(engine: Engine) -> None:
    """status's change-log line: one consumer caught up, one three entries behind."""
    with engine.begin() as conn:
        append_changes(conn, [_diff(f"006{n}") for n in range(5)], cycle_id="c1")
        end = latest_seq(conn)
        commit_offset(conn, "caught-up", end)
        commit_offset(conn, "slow", end - 3)
    with engine.connect() as conn:
        lag = consumer_lag(conn)
    assert lag["latest_seq"] == end
    assert [(c["consumer"], c["behind"]) for c in lag["consumers"]] == [
        ("caught-up", 0), ("slow", 3)]
