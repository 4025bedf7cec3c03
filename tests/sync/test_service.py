"""The service layer: run records, per-run API usage, stages after inbound, failing entities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, Table, select

from connector.emulator.testing import EmulatorHandle
from connector.service import Runtime, StageContext, sync_once
from connector.service import runs as runs_module
from connector.store import read_connection, repo
from connector.store.bookkeeping import ApiUsageSample, SyncRun
from connector.store.stream import latest_seq

from prmfixtures import open_test_runtime

RUNS: Table = SyncRun.__table__  # type: ignore[attr-defined]
USAGE: Table = ApiUsageSample.__table__  # type: ignore[attr-defined]


@pytest.fixture
def runtime(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> Iterator[Runtime]:
    _, url = store
    emulator.reset(seed="demo")
    rt = open_test_runtime(emulator, url, tmp_path)
    yield rt
    rt.close()


def test_each_run_is_recorded_with_its_own_api_calls(runtime: Runtime) -> None:
    """Two cycles in one process: two ok sync_run rows; each usage sample counts its own run."""
    first = sync_once(runtime)
    second = sync_once(runtime)
    assert (first.status, second.status) == ("ok", "ok")
    assert first.changes == latest_seq_of(runtime) > 0
    assert second.changes == 0
    assert first.api_calls + second.api_calls == runtime.client().calls
    assert 0 < second.api_calls < first.api_calls
    with read_connection(runtime.engine) as conn:
        rows = conn.execute(select(RUNS.c.id, RUNS.c.status, RUNS.c.counts)).all()
        samples = conn.execute(select(USAGE.c.calls)).scalars()
        assert sorted(samples) == sorted([first.api_calls, second.api_calls])
    by_id = {r.id: r for r in rows}
    assert by_id[first.run_id].status == "ok"
    assert by_id[first.run_id].counts["changes"] == first.changes
    assert by_id[second.run_id].counts["api_calls"] == second.api_calls


def latest_seq_of(rt: Runtime) -> int:
    with read_connection(rt.engine) as conn:
        return latest_seq(conn)


def test_stages_run_after_inbound_with_the_run_id(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every pipeline stage runs once, after inbound has logged its changes, in order."""
    seen: list[tuple[str, str, int]] = []

    class Probe:
        def __init__(self, name: str) -> None:
            self.name = name

        def run(self, ctx: StageContext) -> dict[str, int]:
            with read_connection(ctx.engine) as conn:
                seen.append((self.name, ctx.run_id, latest_seq(conn)))
            return {"looked": 1}

    monkeypatch.setattr(runs_module, "pipeline_stages", lambda rt: [Probe("a"), Probe("b")])
    report = sync_once(runtime)
    assert [s[0] for s in seen] == ["a", "b"]
    assert {s[1] for s in seen} == {report.run_id}
    assert all(s[2] == report.changes for s in seen)
    assert report.stages == {"a": {"looked": 1}, "b": {"looked": 1}}


def test_an_entity_the_org_rejects_fails_alone(runtime: Runtime) -> None:
    """A query the org rejects for one entity is kept in its state; the others sync; the run
    is an error naming the entity, without SQL or values."""
    deal = runtime.spec.entities["deal"]
    object.__setattr__(deal, "filter", "NoSuchField__c = 1")
    report = sync_once(runtime)
    assert report.status == "error"
    assert list(report.failures) == ["deal"]
    assert report.error is not None and report.error.startswith("deal: ")
    synced = {o["entity"] for o in report.objects}
    assert "partner" in synced and "deal_registration" in synced
    with read_connection(runtime.engine) as conn:
        state = repo.get_state(conn, "deal")
        assert state is not None and state.last_status == "error"
        assert repo.count_entity(conn, "deal_registration") > 0
        run = repo.latest_sync_run(conn)
    assert run is not None and run["status"] == "error" and run["error"] == report.error
