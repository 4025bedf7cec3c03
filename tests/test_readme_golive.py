"""README's "Going live on your org", run against the emulator: the JWT bearer flow, `check`,
the first backfill, rules in dry_run. The `sf` and `systemctl` lines need a real org and host;
they are checked for shape only."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from connector.emulator.testing import EmulatorHandle, running_emulator

from clirunner import invoke

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Going live on your org", 1)[1].split("\n## ", 1)[0]
SH = re.findall(r"```sh\n(.*?)\n```", SECTION, re.S)
YAML = re.findall(r"```yaml\n(.*?)\n```", SECTION, re.S)
LINES = [ln for block in SH for ln in block.splitlines() if ln.strip()]
EXPORTS = {"PRM_SF_LOGIN_URL", "PRM_SF_USERNAME", "PRM_SF_CLIENT_ID", "PRM_SF_PRIVATE_KEY_FILE",
           "PRM_DATABASE_URL"}


def _jwt_config(cfg: Path) -> None:
    """Step 4: replace the `auth: password` block with the README's yaml."""
    text = cfg.read_text()
    start = text.index("  auth: password\n")
    end = text.index("\n", text.index("  # private_key_file:")) + 1
    cfg.write_text(text[:start] + YAML[0] + "\n" + text[end:])


def _dry_run(triggers: Path) -> None:
    """Step 7: `stage: dry_run` under each rule's id."""
    text = re.sub(r"^(  - id: .+)$", r"\1\n    stage: dry_run", triggers.read_text(), flags=re.M)
    triggers.write_text(text)


def _submit_registration(emu: EmulatorHandle) -> str:
    q = "SELECT Id FROM Account WHERE Partner_Status__c = 'Active' LIMIT 1"
    partner = emu.call("GET", "/services/data/v62.0/query", params={"q": q})["records"][0]["Id"]
    out = emu.call("POST", "/services/data/v62.0/sobjects/Deal_Registration__c", json={
        "Name": "DR-GOLIVE", "Partner__c": partner, "Status__c": "Submitted",
        "Amount__c": 1000.0, "End_Customer_Name__c": "Go Live Co"})
    return str(out["id"])


def test_the_section_has_the_steps_of_going_live() -> None:
    tools = [shlex.split(ln)[0] for ln in LINES]
    assert {"sf", "openssl", "export", "prm-connector", "sudo"} == set(tools)
    assert any(ln.startswith("sf project deploy start") for ln in LINES)
    assert any("sf org assign permset --name PRM_Connector_Integration" in ln for ln in LINES)
    assert {ln.split()[1].split("=")[0] for ln in LINES if ln.startswith("export")} == EXPORTS
    assert "examples/prm-connector.service" in SECTION and (ROOT / "examples" /
                                                            "prm-connector.service").is_file()
    for word in ("dry_run", "live", "Change Data Capture", "Outbound Messages", "systemd",
                 "pre-authorized", "Use digital signatures"):
        assert word in SECTION, word


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_certificate_command_makes_a_key_and_a_certificate(tmp_path: Path) -> None:
    line = next(ln for ln in LINES if ln.startswith("openssl"))
    subprocess.run(shlex.split(line), cwd=tmp_path, check=True, capture_output=True, timeout=120)
    assert (tmp_path / "server.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert "BEGIN CERTIFICATE" in (tmp_path / "server.crt").read_text()


def test_the_connector_commands_run_against_the_emulator_with_jwt(tmp_path: Path) -> None:
    with running_emulator(seed="demo") as emu:
        assert invoke("init", "prm", cwd=tmp_path).exit_code == 0
        cfg = tmp_path / "prm" / "connector.yaml"
        _jwt_config(cfg)
        # A change made just before the cycle is read at once (not a poll later), as the
        # trigger tests do.
        cfg.write_text(re.sub(r"(?m)^  signpost_skew_seconds: .*$", "  signpost_skew_seconds: 0",
                              cfg.read_text()))
        env: dict[str, str | None] = {
            "PRM_SF_LOGIN_URL": emu.login_url,
            "PRM_SF_USERNAME": emu.users["integration"]["username"],
            "PRM_SF_CLIENT_ID": emu.client_id,
            "PRM_SF_PRIVATE_KEY_FILE": emu.jwt_private_key,
            "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'prm.db'}",
            "PRM_SF_CA_BUNDLE": emu.ca_bundle,  # the emulator's CA; a real org needs none
            "PRM_SF_PASSWORD": None,
            "PRM_SF_CLIENT_SECRET": None,
        }
        registration = ""
        ran = []
        for line in LINES:
            args = shlex.split(line)
            if args[0] != "prm-connector":
                continue
            if args[3:5] == ["sync", "--once"]:
                _dry_run(tmp_path / "prm" / "triggers.yaml")
                registration = _submit_registration(emu)
            res = invoke(*args[1:], env=env, cwd=tmp_path)
            assert res.exit_code == 0, (line, res.stderr)
            ran.append(args[3])
            if args[3:5] == ["sync", "--once"]:
                assert int(re.search(r"dry_run (\d+)", res.stdout).group(1)) >= 1, res.stdout
            if args[3:5] == ["triggers", "log"]:
                as_json = invoke(*args[1:], "--json", env=env, cwd=tmp_path)
                assert "auto-approve-registration" in as_json.stdout, as_json.stdout[:2000]
        assert ran == ["check", "backfill", "status", "sync", "triggers"]
        # dry_run decided and recorded, and wrote nothing to Salesforce.
        rec = emu.call("GET", f"/services/data/v62.0/sobjects/Deal_Registration__c/{registration}")
        assert rec["Status__c"] == "Submitted" and rec["Decision_Reason__c"] is None
