"""The consumer: which changes fire, dry runs, broken rules, exactly-once on replay."""

from __future__ import annotations

import json

from sqlalchemy import Engine, text

from connector.service.status import StatusReader
from connector.store.stream import get_offset
from connector.triggers import CONSUMER

from .trigtools import Store

POINTS = """
triggers:
  - id: deal-points
    entity: deal
    on: [created, updated]
    when: new.amount > 100.0
    mode: every_time
    actions: [{award_points: {points: 1}}]
"""


def test_echoes_and_backfill_fire_nothing_unless_a_rule_opts_in(engine: Engine) -> None:
    """Our own write coming back and backfilled rows are not business events."""
    store = Store(engine)
    _, pid = store.partner()
    store.put("deal", {"name": "echo", "partner": pid, "amount": 500.0}, echo=True)
    store.put("deal", {"name": "loaded", "partner": pid, "amount": 500.0}, source="backfill")
    report = store.run(store.rules(POINTS))
    assert (report.changes, report.echoes, report.fired) == (2, 1, 0)
    assert store.row("partner", pid)["points"] is None
    opted = store.rules(POINTS.replace("mode: every_time",
                                       "mode: every_time\n    sources: [backfill]"))
    store.put("deal", {"name": "loaded 2", "partner": pid, "amount": 700.0}, source="backfill")
    assert store.run(opted).fired == 1


def test_the_offset_moves_to_the_last_change_even_when_nothing_fires(engine: Engine) -> None:
    """A batch of changes no rule watches still advances the consumer's offset."""
    store = Store(engine)
    for n in range(5):
        store.put("program", {"name": f"P{n}"})
    store.run(store.rules(POINTS), batch_size=2)
    with engine.connect() as conn:
        assert get_offset(conn, CONSUMER) == 5


def test_dry_run_records_the_decision_and_acts_on_nothing(engine: Engine) -> None:
    """stage: dry_run -> an audit row with the planned actions, no effect, no outbox item."""
    store = Store(engine)
    _, pid = store.partner()
    store.put("deal", {"name": "d", "partner": pid, "amount": 500.0})
    report = store.run(store.rules(POINTS.replace("mode: every_time",
                                                  "mode: every_time\n    stage: dry_run")))
    assert (report.dry_run, report.fired) == (1, 0)
    assert store.row("partner", pid)["points"] is None and store.outbox() == []
    [row] = store.decisions()
    assert (row["outcome"], row["stage"]) == ("dry_run", "dry_run")
    assert row["actions"] == [{"action": "award_points", "params": {"points": 1, "reason": ""}}]


def test_a_broken_rule_is_recorded_and_the_others_still_fire(engine: Engine) -> None:
    """A runtime error (null amount) is audited and shown in status; the next rule fires."""
    store = Store(engine)
    _, pid = store.partner()
    store.put("deal", {"name": "no amount", "partner": pid, "amount": None})
    rules = store.rules(POINTS + """
  - id: any-deal
    entity: deal
    on: [created]
    actions: [{award_points: {points: 5}}]
""")
    report = store.run(rules)
    assert (report.errors, report.fired) == (1, 1)
    assert store.row("partner", pid)["points"] == 5.0
    error = next(d for d in store.decisions() if d["outcome"] == "error")
    assert error["trigger_id"] == "deal-points"
    assert "new.amount" in error["reason"] and "null" in error["reason"]
    with engine.connect() as conn:
        stats = {s["rule"]: s for s in StatusReader(conn).triggers()}
    assert stats["deal-points"]["error"] == 1 and stats["any-deal"]["fired"] == 1
    assert "null" in stats["deal-points"]["last_error"]


def test_replaying_the_log_fires_nothing_twice(engine: Engine) -> None:
    """Offset reset to 0 and a rerun: same firings, same outbox items, audited as duplicates."""
    store = Store(engine)
    _, pid = store.partner()
    for n in range(3):
        store.put("deal", {"name": f"d{n}", "partner": pid, "amount": 500.0})
    rules = store.rules(POINTS)
    store.run(rules)
    firings, outbox = store.firings(), [i["id"] for i in store.outbox()]
    with engine.begin() as conn:  # commit_offset never moves back: reset as an operator would
        conn.exec_driver_sql("UPDATE consumer_offset SET seq = 0 WHERE consumer = 'triggers'")
    again = store.run(rules)
    assert (again.fired, again.already_fired) == (0, 3)
    assert store.firings() == firings and [i["id"] for i in store.outbox()] == outbox
    assert store.row("partner", pid)["points"] == 3.0


def test_on_true_fires_when_the_condition_becomes_true_only(engine: Engine) -> None:
    """on_true: false -> true fires; true -> true does not; true -> false -> true fires again."""
    store = Store(engine)
    _, pid = store.partner()
    sf, _ = store.put("deal", {"name": "d", "partner": pid, "amount": 50.0})
    rules = store.rules(POINTS.replace("mode: every_time", "mode: on_true"))
    for amount in (500.0, 600.0, 10.0, 700.0):
        store.put("deal", {"amount": amount}, sf_id=sf)
    report = store.run(rules)
    assert report.fired == 2
    assert store.row("partner", pid)["points"] == 2.0
    edge = [d for d in store.decisions() if d["outcome"] == "not_fired"]
    assert len(edge) == 1 and "before this change too" in edge[0]["reason"]


def test_deleted_records_fire_rules_that_watch_deletes(engine: Engine) -> None:
    """on: [deleted] sees the last values in `old` and can notify."""
    store = Store(engine)
    _, pid = store.partner()
    sf, _ = store.put("deal", {"name": "gone", "partner": pid, "amount": 5.0})
    store.delete("deal", sf)
    rules = store.rules("""
triggers:
  - id: deal-deleted
    entity: deal
    on: [deleted]
    when: old.name == 'gone'
    actions: [{notify: {url: "https://hooks.example.com/deal", secret_env: HOOK_SECRET}}]
""")
    assert store.run(rules).fired == 1
    [item] = store.outbox()
    assert item["operation"] == "notify"
    assert item["payload"]["fields"]["url"] == "https://hooks.example.com/deal"
    assert '"rule":"deal-deleted"' in item["payload"]["fields"]["body"]


BUDGETED = """
triggers:
  - id: cert-pairs
    entity: deal
    on: [created]
    when: >
      partner.certification_names.exists(a,
        partner.certification_names.exists(b, a == b + '-renewed'))
    actions: [{award_points: {points: 1}}]
"""


def test_a_rule_over_its_run_time_budget_errors_for_that_record_and_the_cycle_goes_on(
    engine: Engine,
) -> None:
    """The rule passes `check` (its ranges are the partner's certifications, unknown at
    load), but for a partner with 400 certifications its estimated cost is over the
    per-evaluation budget: that record's decision is an error naming the budget (shown by
    `status`), not evaluated at all; the partner with two certifications is decided."""
    from sqlalchemy import insert

    from connector.store.models import entity_table

    store = Store(engine)
    _, big = store.partner("Many Certs")
    _, small = store.partner("Two Certs")
    now = store.now
    rows = [{"name": f"cert {i}", "partner": big, "is_deleted": False, "created_at": now,
             "updated_at": now} for i in range(400)]
    rows += [{"name": n, "partner": small, "is_deleted": False, "created_at": now,
              "updated_at": now} for n in ("cloud", "cloud-renewed")]
    with engine.begin() as conn:
        conn.execute(insert(entity_table("certification")), rows)
    store.put("deal", {"name": "big", "partner": big, "amount": 1.0})
    store.put("deal", {"name": "small", "partner": small, "amount": 1.0})
    report = store.run(store.rules(BUDGETED))
    assert (report.fired, report.errors) == (1, 1)
    assert store.row("partner", small)["points"] == 1.0
    with engine.connect() as conn:
        [row] = StatusReader(conn).triggers()
    assert row["rule"] == "cert-pairs" and row["error"] == 1
    assert "over its evaluation budget" in row["last_error"]


CAP = """
triggers:
  - id: cap-registrations
    entity: deal_registration
    on: [created]
    when: partner.active_registrations >= 2
    actions: [{reject_registration: {reason: "Too many open registrations"}}]
"""


def test_a_batch_decides_on_the_facts_its_own_earlier_decisions_left(engine: Engine) -> None:
    """Three Submitted registrations of one partner in one batch: each rejection lowers the
    partner's active_registrations before the next decision reads it."""
    store = Store(engine)
    _, pid = store.partner()
    regs = [store.put("deal_registration", {"name": f"R{n}", "partner": pid,
                                            "status": "Submitted"})[1] for n in range(3)]
    report = store.run(store.rules(CAP))
    assert report.fired == 2
    assert [store.row("deal_registration", r)["status"] for r in regs] == [
        "Rejected", "Rejected", "Submitted"]


def test_a_firing_records_its_branch_actions_and_outbox_items(engine: Engine) -> None:
    """The firing row holds what the decision did: its branch, the actions' summaries and
    the outbox items queued with it."""
    store = Store(engine)
    _, pid = store.partner()
    store.put("deal_registration", {"name": "R", "partner": pid, "status": "Submitted"},
              sf_id=store.sf_id("a0R"))
    assert store.run(store.rules(CAP.replace(">= 2", ">= 1"))).fired == 1
    with engine.connect() as conn:
        [result] = conn.execute(text("SELECT result FROM trigger_firing")).scalars()
    if isinstance(result, str):
        result = json.loads(result)
    assert result["branch"] == "actions"
    assert [a["action"] for a in result["actions"]] == ["reject_registration"]
    assert result["outbox_ids"] == [i["id"] for i in store.outbox()] != []
