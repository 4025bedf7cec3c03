"""`check` and `mapping scaffold` against a real (emulated) org's describe."""

from __future__ import annotations

import json
from pathlib import Path

from connector.emulator.testing import EmulatorHandle
from connector.mapping import loads_mapping

from clirunner import CliResult, invoke
from prmfixtures import emulator_fixture

org = emulator_fixture(seed="empty")


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


SET = "PRM_Connector_Integration"


def test_missing_access_is_named_with_its_fix_and_sync_goes_on(
    org: EmulatorHandle, tmp_path: Path
) -> None:
    """Issue 20: without the permission set, `check` names every object and field the
    integration user can no longer read or edit, with the fix, and exits 2; `sync --once`
    stops those objects with one line each and reads the rest; reassigning the set (as the
    admin, through the API) makes `check` pass again."""
    cfg = _init(tmp_path)
    user = org.users["integration"]["username"]
    fix = f"assign the permission set {SET} to {user}"
    org.unassign(SET)
    try:
        res = _run(org, cfg, "check")
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert all("mapping.yaml:" in ln and ln.endswith(fix) for ln in lines), res.stderr
        spec = loads_mapping((tmp_path / "mapping.yaml").read_text())
        named = {ln.split(f"{user} cannot read ")[1].split(" ")[0] for ln in lines}
        hidden_objects = {"ChannelProgram", "ChannelProgramLevel", "ChannelProgramMember",
                          "Deal_Registration__c", "Partner_Certification__c",
                          "Partner_Eligibility__c", "PartnerMarketingBudget",
                          "PartnerFundAllocation", "PartnerFundRequest"}
        hidden_fields = {f"{e.sobject}.{f.crm}" for e in spec.entities.values()
                         if e.sobject not in hidden_objects
                         for f in e.fields.values() if f.crm.endswith("__c")}
        assert named == hidden_objects | hidden_fields
        assert "Account.Partner_Tier__c" in named and "Task.PRM_Key__c" in named
        assert "Account.Partner_Segments__c" in named  # the portal's segments, too

        res = _run(org, cfg, "sync", "--once", "--json")
        assert res.exit_code == 1
        assert "Traceback" not in res.stderr
        errors = [ln for ln in res.stderr.strip().splitlines() if ln.startswith("error: ")]
        stopped = {e.name for e in spec.entities.values()
                   if e.sobject in hidden_objects or e.sobject in ("Account", "Task")}
        assert sorted(ln.split(":")[1].strip() for ln in errors) == sorted(stopped)
        assert all(ln.endswith(fix) for ln in errors), res.stderr
        read = {o["entity"] for o in json.loads(res.stdout)["objects"]}
        assert read == {"deal"}  # Opportunity: standard fields only, the profile's
    finally:
        org.assign(SET)
    res = _run(org, cfg, "check")
    assert res.exit_code == 0, res.stderr


def test_a_field_missing_from_the_set_is_named_as_a_grant_to_add(
    org: EmulatorHandle, tmp_path: Path
) -> None:
    """The user holds the set, but the mapping writes a field it grants read only: the fix is
    the grant to add to the set."""
    cfg = _init(tmp_path)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(mapping.read_text().replace(
        "partner_type:          Partner_Type__c",
        "partner_type:          {crm: Partner_Type__c, direction: both}", 1))
    res = _run(org, cfg, "check")
    assert res.exit_code == 2
    lines = [ln for ln in res.stderr.splitlines() if "mapping.yaml:" in ln]
    user = org.users["integration"]["username"]
    assert len(lines) == 1, res.stderr
    assert lines[0].endswith(
        f"{user} cannot edit Account.Partner_Type__c, which direction both writes: add edit on "
        f"Account.Partner_Type__c to the permission set {SET} (and deploy it)")
