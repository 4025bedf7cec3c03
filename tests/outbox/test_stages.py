"""The outbox's two pipeline stages: local edits are queued once, by the first stage; the last
stage only sends."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, func, select

from connector.mapping import load_mapping
from connector.outbox.stage import LocalChangesStage, OutboxStage
from connector.pipeline import StageContext
from connector.salesforce import SalesforceClient
from connector.settings import Settings
from connector.store.bookkeeping import OutboxItem
from connector.store.diffs import RecordDiff
from connector.store.stream import append_changes, get_offset
from connector.store.types import utcnow

DEFAULTS = Path(__file__).resolve().parents[2] / "connector" / "defaults"
ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


def _no_salesforce() -> SalesforceClient:
    raise AssertionError("nothing is due: the stage must not connect")


def _pending(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ITEMS)).scalar_one())


def test_local_edits_are_queued_by_the_first_stage_and_not_by_the_outbox_stage(
    engine: Engine,
) -> None:
    """Given a local edit in the change log, the outbox stage alone queues nothing and leaves
    the outbox-local offset where it was; the outbox-local stage queues the write once."""
    settings = Settings.model_validate({"salesforce": {"login_url": "https://x.example"}})
    ctx = StageContext(engine=engine, spec=load_mapping(DEFAULTS / "mapping.yaml"),
                       settings=settings, run_id="r1", clock=utcnow, client=_no_salesforce)
    with engine.begin() as conn:
        append_changes(conn, [RecordDiff(
            entity="deal_registration", sf_id="a01000000000001AAA", op="updated",
            old={"status": "Submitted"}, new={"status": "Pending Review"}, changed=("status",),
            origin=None, modstamp=None, local_id=1, source="local",
        )], cycle_id="local-edit")

    assert OutboxStage().run(ctx)["written"] == 0
    assert _pending(engine) == 0
    with engine.connect() as conn:
        assert get_offset(conn, "outbox-local") == 0

    assert LocalChangesStage().run(ctx) == {"queued": 1, "examined": 1}
    assert LocalChangesStage().run(ctx) == {"queued": 0, "examined": 0}
    assert _pending(engine) == 1
