"""The change log as a stream: one writer, ordered reads after a consumer's offset."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, Engine

from connector.store.diffs import RecordDiff
from connector.store.stream import (
    ChangeBatch,
    ChangeFilter,
    append_changes,
    commit_offset,
    consume,
    get_offset,
    latest_seq,
    read_changes,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _diff(sf_id: str, op: str = "created", source: str = "poll", **kw: object) -> RecordDiff:
    new = {"name": sf_id, "signed": date(2026, 1, 2)}
    return RecordDiff(
        entity=str(kw.pop("entity", "partner")),
        sf_id=sf_id,
        op=op,  # type: ignore[arg-type]
        old=None if op == "created" else {"name": "before"},
        new=new,
        changed=("name",),
        origin="005X",
        modstamp=T0,
        source=source,
        **kw,  # type: ignore[arg-type]
    )


def test_appended_changes_read_back_in_order_with_source_and_echo(engine: Engine) -> None:
    """Given diffs from a poll, when a consumer reads, then it gets them in order, JSON-safe."""
    with engine.begin() as conn:
        assert append_changes(conn, [_diff("A"), _diff("B", "updated", echo=True)], cycle_id="c1")
    with engine.connect() as conn:
        events = read_changes(conn, "triggers")
    assert [(e.sf_id, e.op, e.source, e.echo) for e in events] == [
        ("A", "created", "poll", False),
        ("B", "updated", "poll", True),
    ]
    assert events[0].seq < events[1].seq
    assert events[0].new == {"name": "A", "signed": "2026-01-02"}
    assert events[1].old == {"name": "before"}
    assert events[0].changed == ("name",)
    assert events[0].modstamp == T0 and events[0].origin == "005X"
    assert events[0].cycle_id == "c1"


def test_a_consumer_resumes_after_its_committed_offset(engine: Engine) -> None:
    """Each consumer has its own offset; reading does not move it, committing does."""
    with engine.begin() as conn:
        append_changes(conn, [_diff(f"R{i}") for i in range(5)], cycle_id="c1")
    with engine.begin() as conn:
        first = read_changes(conn, "triggers", limit=2)
        assert [e.sf_id for e in read_changes(conn, "triggers", limit=2)] == ["R0", "R1"]
        commit_offset(conn, "triggers", first[-1].seq)
    with engine.connect() as conn:
        assert [e.sf_id for e in read_changes(conn, "triggers")] == ["R2", "R3", "R4"]
        assert [e.sf_id for e in read_changes(conn, "outbox")] == [f"R{i}" for i in range(5)]
        assert get_offset(conn, "outbox") == 0
        assert latest_seq(conn) == first[0].seq + 4


def test_an_offset_rolled_back_with_its_transaction_replays_the_batch(engine: Engine) -> None:
    """A consumer that crashes before commit sees the same batch again (invariant 2)."""
    with engine.begin() as conn:
        append_changes(conn, [_diff("A"), _diff("B")], cycle_id="c1")
    with pytest.raises(RuntimeError), engine.begin() as conn:
        batch = read_changes(conn, "triggers")
        commit_offset(conn, "triggers", batch[-1].seq)
        raise RuntimeError("crash before the effects commit")
    with engine.connect() as conn:
        assert [e.sf_id for e in read_changes(conn, "triggers")] == ["A", "B"]


def test_offsets_never_move_backwards(engine: Engine) -> None:
    """Committing an older sequence (a replayed batch) leaves the newer offset in place."""
    with engine.begin() as conn:
        commit_offset(conn, "triggers", 7)
        commit_offset(conn, "triggers", 3)
        assert get_offset(conn, "triggers") == 7


def test_filters_by_source_and_entity(engine: Engine) -> None:
    """Backfill changes can be left out; an entity filter narrows what a consumer sees."""
    with engine.begin() as conn:
        append_changes(
            conn,
            [
                _diff("A", source="backfill"),
                _diff("B"),
                _diff("C", entity="deal"),
                _diff("D", source="local"),
            ],
            cycle_id="c1",
        )
    with engine.connect() as conn:
        got = read_changes(conn, "t", sources=("poll", "local"), entities=("partner",))
    assert [e.sf_id for e in got] == ["B", "D"]


def test_an_unknown_source_is_refused(engine: Engine) -> None:
    """A typo in a source name would hide changes from consumers: it fails loudly."""
    with engine.begin() as conn, pytest.raises(ValueError, match="unknown change source"):
        append_changes(conn, [_diff("A", source="polled")], cycle_id="c1")


def _mark(conn: Connection, batch: ChangeBatch) -> None:
    """A consumer's effect, written in the batch's transaction: the offset of a second
    consumer ("effect") moved to the last entry handled."""
    if batch.events:
        commit_offset(conn, "effect", batch.events[-1].seq)


def _effect(engine: Engine) -> int:
    with engine.connect() as conn:
        return get_offset(conn, "effect")


def test_consume_commits_each_batch_with_its_offset_and_moves_past_filtered_entries(
    engine: Engine,
) -> None:
    """consume() hands the handler batches of the entries that pass the filter, and commits
    the handler's effects and the new offset together; entries the filter skips are moved
    past, so a second run finds nothing."""
    with engine.begin() as conn:
        append_changes(conn, [_diff(f"P{i}", source="local" if i % 2 else "poll")
                              for i in range(7)], cycle_id="c1")
    seen: list[list[int]] = []

    def handle(conn: Connection, batch: ChangeBatch) -> None:
        seen.append([e.seq for e in batch.events])
        _mark(conn, batch)

    batches = consume(engine, "probe", ChangeFilter(sources=("local",), limit=2), handle)
    with engine.connect() as conn:
        local = [e.seq for e in read_changes(conn, "x", sources=("local",))]
        assert get_offset(conn, "probe") == latest_seq(conn)
    assert [s for batch in seen for s in batch] == local and _effect(engine) == local[-1]
    assert all(len(b) <= 2 for b in seen) and batches == len(seen) >= 2
    assert consume(engine, "probe", ChangeFilter(sources=("local",)), handle) == 0


def test_a_handler_that_fails_rolls_back_its_effects_and_the_offset(engine: Engine) -> None:
    """A batch whose handler raises leaves no effect and no offset behind: the next run
    handles the same entries, once."""
    with engine.begin() as conn:
        append_changes(conn, [_diff(f"R{i}") for i in range(3)], cycle_id="c1")

    def crash(conn: Connection, batch: ChangeBatch) -> None:
        _mark(conn, batch)
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        consume(engine, "probe", ChangeFilter(), crash)
    with engine.connect() as conn:
        assert get_offset(conn, "probe") == 0
    assert _effect(engine) == 0
    assert consume(engine, "probe", ChangeFilter(), _mark) == 1
    with engine.connect() as conn:
        assert _effect(engine) == get_offset(conn, "probe") == latest_seq(conn) > 0
