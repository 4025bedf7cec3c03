"""`check` and `mapping scaffold` against a real (emulated) org's describe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.mapping import loads_mapping

from clirunner import CliResult, invoke


@pytest.fixture(scope="module")
def org() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="empty") as emu:
        yield emu


def _run(emu: EmulatorHandle, cfg: Path, *args: str) -> CliResult:
    user = emu.users["integration"]
    env = {
        "PRM_SF_LOGIN_URL": emu.login_url,
        "PRM_SF_USERNAME": user["username"],
        "PRM_SF_PASSWORD": user["password"],
        "PRM_SF_CLIENT_ID": emu.client_id,
        "PRM_SF_CLIENT_SECRET": emu.client_secret,
        "PRM_SF_CA_BUNDLE": emu.ca_bundle,
        "PRM_DATABASE_URL": f"sqlite:///{cfg.parent / 'x.db'}",
    }
    return invoke(*args, "-c", str(cfg), env=env)


def _init(tmp_path: Path) -> Path:
    assert invoke("init", str(tmp_path)).exit_code == 0
    return tmp_path / "connector.yaml"


def test_the_default_mapping_validates_against_the_orgs_describe(
    org: EmulatorHandle, tmp_path: Path
) -> None:
    """The shipped config and the shipped org metadata agree."""
    res = _run(org, _init(tmp_path), "check", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["checked_against_org"] is True


def test_check_reports_each_mismatch_with_its_mapping_line(
    org: EmulatorHandle, tmp_path: Path
) -> None:
    """A field missing from the org and a read-only field written back: one line each, exit 2."""
    cfg = _init(tmp_path)
    mapping = tmp_path / "mapping.yaml"
    text = mapping.read_text()
    text = text.replace("End_Customer_Domain__c", "End_Customer_Domian__c", 1)
    text = text.replace("{crm: IsWon, type: bool}", "{crm: IsWon, type: bool, direction: both}", 1)
    mapping.write_text(text)
    res = _run(org, cfg, "check")
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if "mapping.yaml:" in ln]
    assert any("End_Customer_Domian__c" in ln for ln in lines), res.stderr
    assert any("IsWon" in ln and "updateable" in ln for ln in lines), res.stderr
    for ln in lines:
        assert ln.split("mapping.yaml:")[1].split(":")[0].isdigit()


def test_scaffold_prints_a_mapping_that_loads(org: EmulatorHandle, tmp_path: Path) -> None:
    """`mapping scaffold Deal_Registration__c` output is itself a valid mapping.yaml."""
    res = _run(org, _init(tmp_path), "mapping", "scaffold", "Deal_Registration__c")
    assert res.exit_code == 0, res.stderr
    spec = loads_mapping(res.stdout)
    entity = spec.entities["deal_registration"]
    assert entity.sobject == "Deal_Registration__c"
    assert entity.fields["partner"].crm == "Partner__c"
