"""SIGKILL between evaluation and commit, then a rerun: every rule fires exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from .trigtools import ROOT, Store, days_ago

pytestmark = pytest.mark.slow

CHILD = """
import os, signal, sys
from connector.mapping import load_mapping
from connector.store import make_engine
from connector.triggers import load_triggers, run_triggers
from datetime import datetime, UTC

url, root, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = load_mapping(root + "/config/mapping.yaml")
rules = load_triggers(root + "/config/triggers.yaml", spec)
seen = 0

def hook(conn, events):
    global seen
    seen += 1
    if seen == kill_at:  # every effect of this batch is written, nothing committed
        os.kill(os.getpid(), signal.SIGKILL)

report = run_triggers(make_engine(url), spec, rules,
                      lambda: datetime(2026, 11, 30, 12, tzinfo=UTC),
                      batch_size=4, before_commit=hook)
print(report.fired)
"""


def _child(url: str, kill_at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", CHILD, url, str(ROOT), str(kill_at)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def _seed(store: Store) -> None:
    levels = store.program()
    for n in range(3):
        _, pid = store.partner(f"P{n}", level="Registered", levels=levels)
        store.put("certification", {"name": f"C{n}", "partner": pid})
        for k in range(3):
            store.put("deal_registration", {
                "name": f"DR-{n}-{k}", "partner": pid, "end_customer_name": f"Cust {n} {k}",
                "amount": 1000.0, "status": "Submitted", "registered_date": days_ago(3)})


def test_kill_before_commit_then_rerun_fires_each_rule_once(
    engine: Engine, tmp_path: Path
) -> None:
    """Batch 2 of 3 is killed after its effects are written; the rerun ends like a clean run."""
    store = Store(engine)
    _seed(store)
    url = engine.url.render_as_string(hide_password=False)
    killed = _child(url, kill_at=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    after_kill = store.firings()
    rerun = _child(url, kill_at=0)
    assert rerun.returncode == 0, rerun.stderr
    firings, outbox = store.firings(), store.outbox()
    # 9 registrations approved; per partner: silver tier + certification points
    assert len(firings) == 9 + 3 * 2
    assert set(after_kill) < set(firings)
    assert len({i["id"] for i in outbox}) == len(outbox)
    assert sum(i["sobject"] == "Deal_Registration__c" for i in outbox) == 9
    fired = [d for d in store.decisions() if d["outcome"] == "fired"]
    assert sorted(d["firing_key"] for d in fired) == firings
    assert [store.row("partner", p["id"])["points"] for p in store.rows("partner")] == \
        [100.0] * 3
    assert _child(url, kill_at=0).stdout.strip() == "0"
