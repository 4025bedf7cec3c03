"""SIGKILL between sending a batch and recording its result, then restart: no duplicate
records in Salesforce and no lost write."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from procs import start
from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite
from connector.store import read_connection
from connector.store.bookkeeping import OutboxItem

from .crash_dispatch import dispatch_then_die
from .orgdata import approvals, context, create_registrations, org_registrations, queue
from prmfixtures import sf_client, sf_env

pytestmark = pytest.mark.slow
ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]


def _certifications(partner_id: str, n: int) -> list[OutboxWrite]:
    return [
        OutboxWrite(
            sobject="Partner_Certification__c",
            operation="upsert",
            external_id_field="PRM_Key__c",
            external_id=f"crash-{i:04d}",
            fields={"Name": f"Cert {i}", "Partner__c": partner_id,
                    "Completed_Date__c": "2026-11-01"},
            cause=f"cert:{i}",
            entity="certification",
        )
        for i in range(n)
    ]


APPROVALS, CERTIFICATIONS = 150, 100  # three and two batches of crash_dispatch.CLAIM


def test_sigkill_after_each_batch_is_sent_then_restart_writes_everything_once(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given 150 approvals and 100 certification upserts queued (five batches of 50), when the
    dispatcher is killed with SIGKILL right after each batch's write call returns, before its
    results are recorded (every batch once, the upserts included), then once at a random
    moment, and restarted until it finishes, every write is in the org once: no duplicate
    certification, no registration left unapproved, no item left pending."""
    emulator.reset(seed="demo")
    context(emulator, store, tmp_path)  # writes connector.yaml for the child
    engine, url = store
    ids = create_registrations(emulator, APPROVALS, user="admin")
    admin = sf_client(emulator)
    partner = admin.query("SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")["records"][0]
    queue(engine, approvals(ids))
    queue(engine, _certifications(partner["Id"], CERTIFICATIONS))
    env = {**os.environ, **sf_env(emulator, url)}
    config = str(tmp_path / "connector.yaml")
    rng = random.Random(11)

    # A run that dies after its k-th call has recorded k-1 batches: dying after call 1, then
    # after call 2 four times, leaves each of the five batches sent once and not recorded.
    for kill_after in (1, 2, 2, 2, 2):
        child = start(dispatch_then_die, config, kill_after, env=env, folder=tmp_path)
        assert child.wait() == -signal.SIGKILL, child.stderr[-2000:]
    # one more kill at a random moment, then a clean run
    child = start(dispatch_then_die, config, -1, env=env, folder=tmp_path)
    time.sleep(rng.uniform(0.05, 0.5))
    child.kill()
    final = start(dispatch_then_die, config, -1, env=env, folder=tmp_path)
    assert final.wait() == 0, final.stderr[-2000:]

    with read_connection(engine) as conn:
        statuses = conn.execute(select(ITEMS.c.status)).scalars().all()
    assert set(statuses) == {"done"} and len(statuses) == APPROVALS + CERTIFICATIONS
    org = org_registrations(admin, ids)
    assert all(r["Status__c"] == "Approved" for r in org.values())
    certs = list(admin.query_all_iter(
        "SELECT Id, PRM_Key__c FROM Partner_Certification__c WHERE PRM_Key__c LIKE 'crash-%'"
    ))
    keys = [c["PRM_Key__c"] for c in certs]
    assert len(keys) == CERTIFICATIONS and len(set(keys)) == CERTIFICATIONS
