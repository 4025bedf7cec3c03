"""The programs commands against a real SQLite store: record, show, eligible, preview."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connector.cli import main
from connector.cli.config_cmds import write_defaults
from connector.programs.facts import ENROLMENT, LEDGER
from connector.service import open_runtime, run_lock
from connector.store import make_engine, migrate
from connector.store.stream import CHANGE_LOG

from .conftest import add_partner
from test_cli import run_cli


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`init` files plus a store with three partners."""
    write_defaults(tmp_path)
    env = {"PRM_SF_LOGIN_URL": "https://127.0.0.1:9", "PRM_SF_USERNAME": "u",
           "PRM_SF_PASSWORD": "p", "PRM_SF_CLIENT_ID": "c", "PRM_SF_CLIENT_SECRET": "s",
           "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'prm.db'}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PRM_CONFIG", raising=False)
    engine = make_engine(env["PRM_DATABASE_URL"])
    migrate(engine)
    with engine.begin() as conn:
        add_partner(conn, "Acme Cloud", sf_id="001000000000001AAA", partner_type="Reseller",
                    billing_country="Germany")
        add_partner(conn, "Brasil Tech", partner_type="MSP", billing_country="Brazil")
        add_partner(conn, "Twin", partner_type="MSP")
        add_partner(conn, "Twin", partner_type="MSP")
    engine.dispose()
    return tmp_path / "connector.yaml"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_recording_steps_and_points_shows_up_in_partner_show(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two certification steps, manual points: ledger, track, segment, tier, eligibility."""
    c = str(config)
    for step in ("cloud-fundamentals", "cloud-architect"):
        code, out, err = _run(capsys, "record", "step-complete", "acme cloud", step,
                              "--by", "alice", "-c", c)
        assert code == 0, err
    assert "segment entered: cloud-certified" in out
    code, out, _ = _run(capsys, "record", "points", "1", "900", "--reason", "Launch", "-c", c)
    assert code == 0 and "-> 1500" in out
    code, out, _ = _run(capsys, "partner", "show", "Acme Cloud", "--json", "-c", c)
    report = json.loads(out)
    assert report["points"]["balance"] == 1500
    assert [e["cause"] for e in report["points"]["ledger"]] == [
        "person:alice", "person:alice", report["points"]["ledger"][2]["cause"]]
    assert report["points"]["ledger"][2]["reason"] == "Launch"
    tech = next(t for t in report["tracks"] if t["track"] == "cloud-technical")
    assert (tech["status"], tech["percent"]) == ("completed", 100.0)
    assert report["segments"] == ["cloud-certified"]
    tier = report["tiers"]["partner-network"]
    assert tier["level"] == "Silver" and "Gold needs closed_won_trailing_4q" in tier["why"]
    eligible = {i["incentive"]: i["eligible"] for i in report["incentives"]}
    assert eligible == {"cloud-launch-mdf": True, "emea-growth-rebate": False,
                        "first-deal-spiff": True}
    code, out, _ = _run(capsys, "partner", "eligible", "001000000000001AAA", "--json", "-c", c)
    assert [i["incentive"] for i in json.loads(out)["incentives"]] == [
        "cloud-launch-mdf", "first-deal-spiff"]


def test_local_records_go_to_the_change_log_for_the_outbox(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Points, the new certification and the channel manager's next-step Task are source
    "local" entries (the Task marked Completed once its step is done); so is the segment entry."""
    c = str(config)
    _run(capsys, "record", "step-complete", "Acme Cloud", "cloud-fundamentals", "-c", c)
    _run(capsys, "record", "step-complete", "Acme Cloud", "cloud-architect", "-c", c)
    engine = make_engine(f"sqlite:///{config.parent / 'prm.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(CHANGE_LOG.c.entity, CHANGE_LOG.c.op, CHANGE_LOG.c.source,
                                   CHANGE_LOG.c.new).order_by(CHANGE_LOG.c.id)).all()
    engine.dispose()
    assert {r.source for r in rows} == {"local"}
    assert [(r.entity, r.op) for r in rows] == [
        ("certification", "created"), ("partner", "updated"), ("task", "created"),
        ("certification", "created"), ("partner", "updated"), ("task", "updated"),
        ("partner", "segment_entered"),
    ]
    assert rows[2].new["subject"] == "Acme Cloud: next step Cloud Architect"
    assert rows[4].new == {"points": 600.0, "certifications": 2.0}
    assert rows[5].new["status"] == "Completed"  # the track is done: no further Task


def test_a_step_out_of_order_exits_2_with_the_reason_and_partner_show_says_why(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MSP onboarding is sequential: the second step first is refused, and shown as blocked."""
    c = str(config)
    code, _, err = _run(capsys, "record", "step-complete", "Brasil Tech", "msp-ops-training",
                        "-c", c)
    assert code == 2
    assert "msp-agreement" in err and "comes first" in err
    _, out, _ = _run(capsys, "partner", "show", "Brasil Tech", "--json", "-c", c)
    msp = next(t for t in json.loads(out)["tracks"] if t["track"] == "msp-onboarding")
    assert msp["next_step"] == "msp-agreement" and msp["blocked"] is None
    sales = next(t for t in json.loads(out)["tracks"] if t["track"] == "cloud-sales")
    assert "track 'cloud-technical'" in sales["blocked"]


def test_unknown_or_ambiguous_partners_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name two partners share, or none has, is refused with a one-line reason."""
    code, _, err = _run(capsys, "partner", "show", "Twin", "-c", str(config))
    assert code == 2 and "2 partners are called 'Twin'" in err
    code, _, err = _run(capsys, "partner", "show", "Acme Clod", "-c", str(config))
    assert code == 2 and "did you mean 'Acme Cloud'" in err
    code, _, err = _run(capsys, "record", "points", "acme", "5", "--reason", "x",
                        "-c", str(config))  # part of a name: named back, never guessed
    assert code == 2 and "partners whose name contains it: 'Acme Cloud'" in err


def test_segments_preview_compares_a_draft_with_the_members(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nobody is in cloud-certified; a draft on partner type would bring in the MSPs."""
    c = str(config)
    code, out, err = _run(capsys, "segments", "preview", "cloud-certified", "--when",
                          "partner.type == 'MSP'", "--json", "-c", c)
    assert code == 0, err
    data = json.loads(out)
    assert data["members"] == [] and data["would_be_members"] == 3
    assert {r["name"] for r in data["enter"]} == {"Brasil Tech", "Twin"}
    code, _, err = _run(capsys, "segments", "preview", "x", "--when", "partner.tyype == 1",
                        "-c", c)
    assert code == 2 and "unknown partner fact 'tyype'" in err


def test_programs_show_lists_tracks_ladders_and_incentives(config: Path) -> None:
    """As a user runs it: the default program's tracks, ladder variant and incentives."""
    res = run_cli("programs", "show", "-c", str(config), env={"COLUMNS": "250"})
    assert res.returncode == 0, res.stderr
    for word in ("reseller-onboarding", "cloud-sales", "emerging-markets", "cloud-launch-mdf"):
        assert word in res.stdout


LOCKED = re.compile(
    r"^error: another run \(sync\) holds the store since "
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, pid (\d+); wait for it to finish or pass --wait\n$"
)
RECORDS = (
    ("record", "step-complete", "Acme Cloud", "cloud-fundamentals"),
    ("record", "points", "Acme Cloud", "50", "--reason", "Launch"),
    ("record", "enroll", "Acme Cloud", "cloud-sales"),
)


def _ledger_and_enrolments(config: Path) -> tuple[int, int]:
    engine = make_engine(f"sqlite:///{config.parent / 'prm.db'}")
    with engine.connect() as conn:
        counts = (conn.execute(select(func.count()).select_from(LEDGER)).scalar_one(),
                  conn.execute(select(func.count()).select_from(ENROLMENT)).scalar_one())
    engine.dispose()
    return counts


@pytest.mark.parametrize("args", RECORDS, ids=[a[1] for a in RECORDS])
def test_record_commands_exit_1_at_once_on_a_locked_store_naming_the_holder(
    config: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    """While a sync holds the store's run lock, a person's edit is refused with the same
    one-line message sync gives (holder, since, pid) and changes nothing."""
    before = _ledger_and_enrolments(config)
    rt = open_runtime(config)
    try:
        with run_lock(rt, "sync"):
            code, out, err = _run(capsys, *args, "-c", str(config))
    finally:
        rt.close()
    assert code == 1 and out == ""
    match = LOCKED.match(err)
    assert match, err
    assert int(match.group(1)) == os.getpid()
    assert _ledger_and_enrolments(config) == before


def test_record_with_wait_runs_once_the_holder_lets_go(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --wait the edit waits for the lock instead of exiting, then is recorded."""
    rt = open_runtime(config)
    held, release, order = threading.Event(), threading.Event(), []

    def holder() -> None:
        with run_lock(rt, "sync"):
            held.set()
            release.wait(30)
            order.append("released")

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(30)
        threading.Timer(0.5, release.set).start()
        code, out, err = _run(capsys, "record", "points", "Acme Cloud", "50", "--reason",
                              "Launch", "--wait", "--json", "-c", str(config))
        order.append("recorded")
    finally:
        release.set()
        thread.join(30)
        rt.close()
    assert code == 0, err
    assert json.loads(out)["points"] == 50
    assert order == ["released", "recorded"]


SEGMENT_RULE = """\
  - id: welcome-emea
    entity: partner
    on: [segment_entered]
    segment: emea-growth
    when: "true"
    actions:
      - award_points: {points: 10, reason: "Joined EMEA growth"}
"""


def test_check_reports_a_trigger_watching_an_unknown_segment_at_its_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` names the segments programs.yaml has and points at the rule's `segment:`;
    without a programs.yaml there is nothing to check the name against."""
    triggers = config.parent / "triggers.yaml"
    text = triggers.read_text()
    triggers.write_text(text + SEGMENT_RULE)
    line = text.count("\n") + 4
    code, _, err = _run(capsys, "check", "--offline", "-c", str(config))
    assert code == 2
    assert err.splitlines() == [
        f"{triggers}:{line}:14: unknown segment 'emea-growth' (programs.yaml has: "
        "cloud-certified, emea-cloud-growth) (did you mean 'emea-cloud-growth'?)"]
    triggers.write_text(text + SEGMENT_RULE.replace("emea-growth", "emea-cloud-growth"))
    code, out, err = _run(capsys, "check", "--offline", "-c", str(config))
    assert code == 0 and out.startswith("OK:"), err
    (config.parent / "programs.yaml").unlink()
    triggers.write_text(text + SEGMENT_RULE)
    code, out, err = _run(capsys, "check", "--offline", "-c", str(config))
    assert code == 0 and out.startswith("OK:"), err
