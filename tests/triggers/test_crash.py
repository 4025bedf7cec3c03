"""SIGKILL between evaluation and commit, then a rerun: every rule fires exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from procs import start
from sqlalchemy import Engine

from .trigtools import ROOT, Store, days_ago

pytestmark = pytest.mark.slow

def run_then_die(url: str, root: str, kill_at: int) -> None:
    """In the child: run the shipped rules in batches of 4; SIGKILL this process when batch
    ``kill_at`` has written every effect and committed nothing (0: never)."""
    from datetime import UTC, datetime

    from connector.mapping import load_mapping
    from connector.store import make_engine
    from connector.triggers import load_triggers, run_triggers

    spec = load_mapping(root + "/config/mapping.yaml")
    rules = load_triggers(root + "/config/triggers.yaml", spec)
    seen = 0

    def hook(conn: object, events: object) -> None:
        nonlocal seen
        seen += 1
        if seen == kill_at:  # every effect of this batch is written, nothing committed
            os.kill(os.getpid(), signal.SIGKILL)

    report = run_triggers(make_engine(url), spec, rules,
                          lambda: datetime(2026, 11, 30, 12, tzinfo=UTC),
                          batch_size=4, before_commit=hook)
    print(report.fired, flush=True)


def _child(url: str, kill_at: int, folder: Path) -> tuple[int, str, str]:
    child = start(run_then_die, url, str(ROOT), kill_at, folder=folder)
    code = child.wait()
    return code, child.stdout, child.stderr


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
    killed, _, err = _child(url, 2, tmp_path)
    assert killed == -signal.SIGKILL, err
    after_kill = store.firings()
    rerun, _, err = _child(url, 0, tmp_path)
    assert rerun == 0, err
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
    assert _child(url, 0, tmp_path)[1].strip() == "0"
