"""SIGKILL between sending a batch and recording its result, then restart: no duplicate
records in Salesforce and no lost write."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite
from connector.store import read_connection
from connector.store.bookkeeping import OutboxItem

from .orgdata import approvals, context, create_registrations, org_registrations, queue
from sync.conftest import sf_env
from sync.orgtools import admin_sf

pytestmark = pytest.mark.slow
ITEMS = OutboxItem.__table__  # type: ignore[attr-defined]
SCRIPT = Path(__file__).with_name("crash_dispatch.py")


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


@pytest.mark.parametrize("seed", [11, 23])
def test_sigkill_after_a_batch_is_sent_then_restart_writes_everything_once(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path, seed: int
) -> None:
    """Given 600 approvals and 400 certification upserts queued, when the dispatcher is
    killed with SIGKILL right after seeded random write calls return (and once at a random
    moment), and restarted until it finishes, every write is in the org once: no duplicate
    certification, no registration left unapproved, no item left pending."""
    emulator.reset(seed="demo")
    context(emulator, store, tmp_path)  # writes connector.yaml for the subprocess
    engine, url = store
    ids = create_registrations(emulator, 600, user="admin")
    admin = admin_sf(emulator)
    partner = admin.query("SELECT Id FROM Account WHERE IsPartner = true LIMIT 1")["records"][0]
    queue(engine, approvals(ids))
    queue(engine, _certifications(partner["Id"], 400))
    env = {**os.environ, **sf_env(emulator, url)}
    config = str(tmp_path / "connector.yaml")
    rng = random.Random(seed)

    kills = 0
    for _ in range(10):
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), config, str(rng.randint(1, 3))],
            env=env, capture_output=True, text=True, timeout=300,
        )
        if proc.returncode == 0:
            break
        assert proc.returncode == -9, proc.stderr[-2000:]
        kills += 1
    assert kills >= 2
    # one more kill at a random moment, then a clean run
    proc2 = subprocess.Popen([sys.executable, str(SCRIPT), config, "-1"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0.2, 2.0))
    proc2.kill()
    proc2.wait(30)
    final = subprocess.run([sys.executable, str(SCRIPT), config, "-1"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]

    with read_connection(engine) as conn:
        statuses = conn.execute(select(ITEMS.c.status)).scalars().all()
    assert set(statuses) == {"done"} and len(statuses) == 1000
    org = org_registrations(admin, ids)
    assert all(r["Status__c"] == "Approved" for r in org.values())
    certs = list(admin.query_all_iter(
        "SELECT Id, PRM_Key__c FROM Partner_Certification__c WHERE PRM_Key__c LIKE 'crash-%'"
    ))
    keys = [c["PRM_Key__c"] for c in certs]
    assert len(keys) == 400 and len(set(keys)) == 400
