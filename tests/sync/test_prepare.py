"""prepare_backfills: a first sync counts every object and creates the big one's Bulk job before
reading anything; the loads that use it leave the store equal to the org."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle
from connector.sync.backfill import backfill_entity, prepare_backfills

from .orgtools import compare_entity
from prmfixtures import settings_for, sf_client, sync_context


def test_prepared_first_loads_use_the_early_bulk_job_and_match_the_org(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    engine, url = store
    emulator.reset(seed="demo", records=2500)
    settings = settings_for(
        emulator, url, tmp_path, signpost_skew_seconds=0, bulk_threshold=2000
    )
    ctx = sync_context(settings, engine)
    entities = [e for e in ctx.spec.entities.values() if e.inbound_fields()]

    prepared = prepare_backfills(ctx, entities)
    assert set(prepared) == {e.name for e in entities}
    assert prepared["deal"].mode == "bulk" and prepared["deal"].job is not None
    assert prepared["deal"].total > 2500
    assert all(p.mode == "rest" and p.job is None for n, p in prepared.items() if n != "deal")

    runs = {e.name: backfill_entity(ctx, e, prepared=prepared[e.name]) for e in entities}
    assert runs["deal"].mode == "backfill-bulk"
    assert runs["deal"].seen == prepared["deal"].total
    assert runs["deal"].cursor == prepared["deal"].signpost
    sf = sf_client(emulator)
    for entity in entities:
        assert compare_entity(engine, sf, entity) == [], entity.name

    # loaded entities are not prepared again
    assert prepare_backfills(ctx, entities) == {}
