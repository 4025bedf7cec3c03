"""`triggers list|test|replay|log|run-scheduled`, `check` on triggers.yaml, `status`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from connector.store import make_engine, migrate

from .trigtools import ROOT, Store, days_ago
from clirunner import CliResult, invoke

pytestmark = pytest.mark.slow


class Cli:
    """`prm-connector` (in-process, through its entry point) against a config folder and a
    SQLite store in tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        for name in ("connector.yaml", "mapping.yaml", "triggers.yaml"):
            (tmp_path / name).write_text((ROOT / "config" / name).read_text())
        self.url = f"sqlite:///{tmp_path / 'prm.db'}"
        self.env: dict[str, str | None] = {
            **{k: None for k in os.environ if k.startswith("PRM_")},
            "PRM_SF_LOGIN_URL": "https://login.example.com", "PRM_SF_USERNAME": "u",
            "PRM_SF_PASSWORD": "p", "PRM_SF_CLIENT_ID": "c", "PRM_SF_CLIENT_SECRET": "s",
            "PRM_DATABASE_URL": self.url,
        }

    def __call__(self, *args: str) -> CliResult:
        return invoke("-c", str(self.dir / "connector.yaml"), *args, env=self.env)

    def json(self, *args: str) -> Any:
        res = self(*args, "--json")
        assert res.exit_code == 0, res.stderr
        return json.loads(res.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def _store(cli: Cli) -> Store:
    engine = make_engine(cli.url)
    migrate(engine)
    return Store(engine)


def test_list_shows_the_rules_in_order(cli: Cli) -> None:
    """`triggers list --json` lists the shipped pack with events, schedules and actions."""
    rows = cli.json("triggers", "list")
    by_id = {r["id"]: r for r in rows}
    assert by_id["auto-approve-registration"]["otherwise"] == ["route_for_review"]
    assert by_id["registration-expiry"]["event"] == "schedule 0 1 * * *"


def test_test_explains_a_decision_without_a_store(cli: Cli, tmp_path: Path) -> None:
    """`triggers test` decides from the record file (and partner facts given in it)."""
    record = tmp_path / "reg.json"
    record.write_text(json.dumps({
        "status": "Submitted", "amount": 1000, "end_customer_name": "Acme",
        "partner": {"status": "Active", "certifications": 2}, "conflict": False}))
    out = cli.json("triggers", "test", "--rule", "auto-approve-registration",
                   "--record", str(record))
    assert (out["outcome"], out["branch"]) == ("fire", "actions")
    assert out["actions"][0]["action"] == "approve_registration"
    old = tmp_path / "old.yaml"
    old.write_text("status: Submitted\namount: 500\n")
    again = cli.json("triggers", "test", "--rule", "auto-approve-registration", "--record",
                     str(record), "--old", str(old))
    assert again["outcome"] == "not_fired" and "before this change too" in again["reason"]
    assert not (tmp_path / "prm.db").exists()


def test_test_reads_partner_facts_and_conflicts_from_the_store(cli: Cli, tmp_path: Path) -> None:
    """With a store, the record's partner id brings its facts; conflicts are looked up."""
    store = _store(cli)
    _, p1 = store.partner("First")
    _, p2 = store.partner("Second")
    store.put("certification", {"name": "C", "partner": p2}, log=False)
    store.put("deal_registration", {"name": "DR-EARLY", "partner": p1, "status": "Approved",
                                    "end_customer_name": "Hooli Inc",
                                    "registered_date": days_ago(5)}, log=False)
    record = tmp_path / "reg.json"
    record.write_text(json.dumps({"partner": p2, "status": "Submitted", "amount": 10.0,
                                  "end_customer_name": "HOOLI", "registered_date": "2026-11-29"}))
    out = cli.json("triggers", "test", "--rule", "auto-approve-registration", "--record",
                   str(record))
    assert out["branch"] == "otherwise"
    assert out["inputs"]["conflict"] is True
    assert "DR-EARLY" in out["actions"][0]["params"]["reason"]
    assert store.firings() == []


def test_replay_backtests_without_acting_then_log_shows_the_live_run(cli: Cli) -> None:
    """replay reports what would fire and changes nothing; after a live run, log shows it."""
    store = _store(cli)
    _, pid = store.partner()
    store.put("certification", {"name": "C", "partner": pid}, log=False)
    store.put("deal_registration", {"name": "DR-1", "partner": pid, "status": "Submitted",
                                    "amount": 10.0, "registered_date": days_ago(1)})
    out = cli.json("triggers", "replay", "--since", "2000-01-01")
    assert out["would_fire"] == 1
    assert out["results"][0]["rule"] == "auto-approve-registration"
    assert store.firings() == [] and store.outbox() == []
    store.run(store.shipped_rules())
    log = cli.json("triggers", "log", "--rule", "auto-approve-registration")
    assert [r["outcome"] for r in log] == ["fired"]
    assert len(log[0]["outbox_ids"]) == 1 and log[0]["inputs"]["new"]["status"] == "Submitted"
    status = cli.json("status")
    assert {"rule": "auto-approve-registration", "fired": 1} .items() <= status["triggers"][0] \
        .items()


def test_run_scheduled_runs_one_rule(cli: Cli) -> None:
    """`triggers run-scheduled --rule registration-expiry` expires it; a rerun does nothing."""
    store = _store(cli)
    _, pid = store.partner()
    _, reg = store.put("deal_registration", {"name": "DR-OLD", "partner": pid,
                                             "status": "Approved",
                                             "expiration_date": days_ago(400)}, log=False)
    first = cli.json("triggers", "run-scheduled", "--rule", "registration-expiry")
    second = cli.json("triggers", "run-scheduled", "--rule", "registration-expiry")
    assert (first["fired"], second["fired"]) == (1, 0)
    assert store.row("deal_registration", reg)["status"] == "Expired"


def test_run_scheduled_dry_run_shows_the_verdict_and_changes_nothing(cli: Cli) -> None:
    """`--dry-run` lists what would fire with each action's outcome; the registration stays
    Approved, and the real run afterwards still expires it."""
    store = _store(cli)
    _, pid = store.partner()
    _, reg = store.put("deal_registration", {"name": "DR-OLD", "partner": pid,
                                             "status": "Approved",
                                             "expiration_date": days_ago(400)}, log=False)
    preview = cli.json("triggers", "run-scheduled", "--rule", "registration-expiry",
                       "--dry-run")
    assert preview["preview"] is True and preview["fired"] == 1
    assert [d["outcome"] for d in preview["decisions"]] == ["fired"]
    assert preview["decisions"][0]["actions"][0]["status"] == "done"
    assert store.row("deal_registration", reg)["status"] == "Approved"
    table = cli("triggers", "run-scheduled", "--rule", "registration-expiry", "--dry-run")
    assert table.exit_code == 0, table.stderr
    assert "nothing was changed" in " ".join(table.stdout.split()), table.stdout
    assert cli.json("triggers", "run-scheduled", "--rule", "registration-expiry")["fired"] == 1
    assert store.row("deal_registration", reg)["status"] == "Expired"


def test_check_reports_broken_rules_with_file_and_line(cli: Cli) -> None:
    """`check --offline` validates triggers.yaml against mapping.yaml: exit 2, file:line:col."""
    path = cli.dir / "triggers.yaml"
    path.write_text("""triggers:
  - id: a
    entity: deal
    on: [created]
    when: new.ammount > 1.0
    actions: [{award_point: {points: 1}}]
""")
    res = cli("check", "--offline")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(f"{path}:5:11: when: unknown field 'new.ammount'")
    assert lines[1].startswith(f"{path}:6:16: unknown action 'award_point'")
    assert "Traceback" not in res.stderr


def test_an_unknown_rule_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    """--rule naming no trigger exits 2 with the known ids."""
    (tmp_path / "r.json").write_text("{}")
    res = cli("triggers", "test", "--rule", "nope", "--record", str(tmp_path / "r.json"))
    assert res.exit_code == 2 and "unknown trigger 'nope'" in res.stderr
