"""README.md is the newcomer's path: its commands are run here, so it cannot rot."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest

from clirunner import invoke
from test_cli import _commands

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)\n```", README, re.S)
# Lines of these tools may name prm-connector (a unit file, a certificate) without running it.
OTHER_TOOLS = ("sudo", "sf", "openssl", "export")


def _pieces(command: str) -> list[list[str]]:
    return [shlex.split(p) for p in command.split("&&")]


def test_readme_starts_with_the_demo_command_then_the_test_command() -> None:
    """The first block installs and runs the demo; the second installs and runs the tests."""
    demo, tests = BLOCKS[0], BLOCKS[1]
    assert "pip install" in demo and demo.rstrip().endswith("prm-connector demo")
    assert "pip install" in tests and "'.[dev]'" in tests
    tools = [p[0].rsplit("/", 1)[-1] for p in _pieces(tests)]
    assert tools[-3:] == ["ruff", "mypy", "pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "blocks[1]" in ci, ".ci/run must run the README's test command"


def test_every_tool_the_readme_runs_is_installed_by_its_install_step() -> None:
    """ruff, mypy, pytest and prm-connector exist in the venv the README's pip step fills."""
    bindir = Path(sys.executable).parent
    for block in BLOCKS[:2]:
        for piece in _pieces(block)[2:]:
            assert (bindir / piece[0].rsplit("/", 1)[-1]).exists(), piece


def test_every_prm_connector_command_in_the_readme_exists() -> None:
    """A README line naming a command that does not exist fails here."""
    known = set(_commands())
    for block in BLOCKS:
        for line in block.splitlines():
            if "prm-connector" not in line or line.split()[0] in OTHER_TOOLS:
                continue
            words = line.split("prm-connector", 1)[1].split("#")[0].split()
            while words and words[0].startswith("-"):
                words = words[2:] if words[0] in ("-c", "--config") else words[1:]
            name = " ".join(w for w in words[:2] if not w.startswith("-"))
            assert name in known or name.split()[0] in known, line


@pytest.mark.slow
def test_the_demo_runs_as_the_readme_says(tmp_path: Path) -> None:
    """`prm-connector demo` tells the whole loop: every scene's effect is read back from
    Salesforce, MDF is released once, a quiet cycle writes nothing, nothing is dead-lettered."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PRM_")}
    res = invoke("demo", "--json", cwd=tmp_path, env=env)
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["backfill"]["partner"] == 20
    approve, conflict, certify, big, second, quiet = out["scenes"]
    regs = {r["Name"]: r for r in conflict["salesforce"]["Deal_Registration__c"]}
    assert regs["DR-1001"]["Status__c"] == "Approved"
    assert regs["DR-1001"]["Decision_Reason__c"] == "Certified partner, no conflicting registration"
    assert regs["DR-1002"]["Status__c"] == "Pending Review"
    assert "DR-1001" in regs["DR-1002"]["Decision_Reason__c"]
    assert [d["trigger_id"] for d in approve["decisions"]] == ["auto-approve-registration"]
    assert certify["salesforce"]["Account"][0]["Partner_Tier__c"] == "Silver"
    assert certify["salesforce"]["ChannelProgramMember"][0]["Level.Name"] == "Silver"
    assert certify["prm"]["segments"] == ["cloud-certified"]  # the track completed
    # Litware's portal user, signed in through the API, reads its new segment and the incentive
    # it now qualifies for, and none of the other resellers' records (the query names no one)
    portal = certify["salesforce"]
    assert portal["Account (as the partner's portal user)"][0]["Partner_Segments__c"] == (
        "cloud-certified")
    assert [r["Name"] for r in portal["Partner_Eligibility__c (as the partner's portal user)"]
            ] == ["Cloud launch co-marketing fund", "First registered deal bonus"]
    points = certify["salesforce"]["Account"][0]["Partner_Points__c"]
    assert points == certify["prm"]["points_ledger_total"] > 0  # Salesforce mirrors the ledger
    assert big["salesforce"]["PartnerFundAllocation"][0]["Amount"] == 13000.0  # 2% of 650,000
    assert len(second["salesforce"]["PartnerFundAllocation"]) == 1  # once per quarter
    assert second["salesforce"]["Account"][0]["Partner_Points__c"] == 100.0
    assert quiet["decisions"] == [] and not any(quiet["writes"].values())
    follow = invoke("-c", "prm-demo/connector.yaml", "status", "--json", cwd=tmp_path, env=env)
    assert follow.exit_code == 0, follow.stderr
    status = json.loads(follow.stdout)
    assert {o["entity"]: o["rows"] for o in status["objects"]}["partner"] == 20
    assert status["dead_letters"] == []
    assert status["outbox"]["pending"] == 0 and status["outbox"]["dead"] == 0
    # every change-log consumer has caught up; the PRM side of the story is in status too
    assert {c["consumer"]: c["behind"] for c in status["change_log"]["consumers"]} == {
        "outbox-local": 0, "programs": 0, "triggers": 0}
    assert status["programs"]["segments"]["cloud-certified"] == 1  # Litware, scene 3
    # the whole ledger: Litware's points and Proseware's (scenes 4-5), as Salesforce shows them
    proseware = second["salesforce"]["Account"][0]["Partner_Points__c"]
    assert status["programs"]["points"] == points + proseware
