"""The Salesforce CLI (``sf``, a client we did not write) runs its everyday data commands
against the emulator: login with an access token, query, create, Bulk 2.0 export and upsert,
describe. Each test checks what the CLI printed and what the org then holds.

The CLI is pinned by tests/emulator/sfcli/package-lock.json and installed there by .ci/run
(``npm ci``); without it (or without node) the tests are skipped. It runs with a private HOME
and XDG folders under the test's tmp dir, telemetry and auto-update off, the generic keychain
(a key file in that HOME), and trusts the emulator's CA through NODE_EXTRA_CA_CERTS.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.emulator.testing import EmulatorHandle, running_emulator

SF = Path(__file__).parent / "sfcli" / "node_modules" / ".bin" / "sf"
V = "/services/data/v62.0"
ALIAS = "emu"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    if shutil.which("node") is None or not SF.exists():
        pytest.skip("the Salesforce CLI is not installed (npm ci --prefix tests/emulator/sfcli)")
    with running_emulator(seed="demo") as handle:
        yield handle


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sf-home")


def _env(emu: EmulatorHandle, home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("SF_", "SFDX_", "XDG_", "NODE_"))}
    return {
        **keep,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "SF_DISABLE_TELEMETRY": "true",
        "SF_AUTOUPDATE_DISABLE": "true",
        "SF_DISABLE_AUTOUPDATE": "true",
        "SF_SKIP_NEW_VERSION_CHECK": "true",
        "SF_HIDE_RELEASE_NOTES": "true",
        "SF_USE_GENERIC_UNIX_KEYCHAIN": "true",
        "SF_DISABLE_LOG_FILE": "true",
        "NODE_EXTRA_CA_CERTS": emu.ca_bundle,
    }


def _sf(emu: EmulatorHandle, home: Path, *args: str, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> Any:
    """Run ``sf ARGS --json`` and return its ``result`` (asserting status 0)."""
    done = subprocess.run(
        [str(SF), *args, "--json"], env={**_env(emu, home), **(env or {})},
        cwd=cwd or home, capture_output=True, text=True, timeout=300, check=False,
    )
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"sf {args[:3]} printed no JSON: {done.stdout[-2000:]}"
                             f"{done.stderr[-2000:]}") from None
    assert done.returncode == 0 and out["status"] == 0, json.dumps(out)[:3000]
    return out["result"]


@pytest.fixture(scope="module")
def login(emu: EmulatorHandle, home: Path) -> dict[str, Any]:
    """``sf org login access-token`` with an access token from the emulator's OAuth."""
    result: dict[str, Any] = _sf(
        emu, home, "org", "login", "access-token", "--instance-url", emu.instance_url,
        "--no-prompt", "--alias", ALIAS, env={"SF_ACCESS_TOKEN": emu.token("admin")})
    return result


def _soql(emu: EmulatorHandle, q: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = emu.call("GET", f"{V}/query", params={"q": q})["records"]
    return rows


def test_login_with_an_access_token(emu: EmulatorHandle, home: Path,
                                    login: dict[str, Any]) -> None:
    assert login["username"] == emu.users["admin"]["username"]
    assert login["orgId"] == emu.organization_id
    assert login["instanceUrl"].rstrip("/") == emu.instance_url
    shown = _sf(emu, home, "org", "display", "--target-org", ALIAS)
    assert (shown["id"], shown["connectedStatus"], shown["alias"]) == (
        emu.organization_id, "Connected", ALIAS)
    # What it stored went into the private HOME.
    assert (home / ".sfdx" / f"{login['username']}.json").is_file()


def test_every_command_asks_what_a_production_org_answers(emu: EmulatorHandle, home: Path,
                                                          login: dict[str, Any]) -> None:
    """The CLI reads the Organization's edition, instance, sandbox and trial fields before a
    command runs; the emulator answers them as a production org does."""
    result = _sf(emu, home, "data", "query", "--target-org", ALIAS, "--query",
                 "SELECT Name, InstanceName, IsSandbox, TrialExpirationDate, NamespacePrefix, "
                 "OrganizationType FROM Organization")
    [org] = result["records"]
    assert org["IsSandbox"] is False and org["TrialExpirationDate"] is None
    assert org["NamespacePrefix"] is None and org["OrganizationType"] == "Enterprise Edition"
    assert org["InstanceName"]


def test_data_query(emu: EmulatorHandle, home: Path, login: dict[str, Any]) -> None:
    q = "SELECT Id, Name, Industry, Owner.Name FROM Account ORDER BY Name LIMIT 5"
    result = _sf(emu, home, "data", "query", "--target-org", ALIAS, "--query", q)
    want = _soql(emu, q)
    assert result["totalSize"] == len(want) == 5 and result["done"] is True
    assert [(r["Id"], r["Name"], r["Industry"], r["Owner"]["Name"]) for r in result["records"]] \
        == [(r["Id"], r["Name"], r["Industry"], r["Owner"]["Name"]) for r in want]


def test_data_create_record(emu: EmulatorHandle, home: Path, login: dict[str, Any]) -> None:
    result = _sf(emu, home, "data", "create", "record", "--target-org", ALIAS, "--sobject",
                 "Account", "--values", "Name='Made By The CLI' Industry=Energy")
    assert result["success"] is True and result["id"].startswith("001")
    rec = emu.call("GET", f"{V}/sobjects/Account/{result['id']}")
    assert (rec["Name"], rec["Industry"], rec["OwnerId"]) == (
        "Made By The CLI", "Energy", emu.users["admin"]["id"])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_data_export_bulk(emu: EmulatorHandle, home: Path, login: dict[str, Any],
                          fmt: str) -> None:
    q = "SELECT Id, Name, StageName FROM Opportunity ORDER BY Id"
    out = home / f"opportunities.{fmt}"
    result = _sf(emu, home, "data", "export", "bulk", "--target-org", ALIAS, "--query", q,
                 "--output-file", str(out), "--result-format", fmt, "--wait", "5")
    want = [(r["Id"], r["Name"], r["StageName"]) for r in _soql(emu, q)]
    assert result["totalSize"] == len(want) > 0
    assert Path(result["filePath"]).resolve() == out.resolve()
    if fmt == "csv":
        with out.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows = json.loads(out.read_text())
    assert [(r["Id"], r["Name"], r["StageName"]) for r in rows] == want


def test_data_upsert_bulk(emu: EmulatorHandle, home: Path, login: dict[str, Any]) -> None:
    """One row updates an account by Id, one (blank Id) creates one."""
    [acme] = _soql(emu, "SELECT Id, Name FROM Account WHERE Name = 'Acme Corporation'")
    path = home / "accounts.csv"
    path.write_text(f"Id,Name,Industry\n{acme['Id']},Acme Corporation,Retail\n"
                    ",Upserted By The CLI,Shipping\n")
    result = _sf(emu, home, "data", "upsert", "bulk", "--target-org", ALIAS, "--sobject",
                 "Account", "--file", str(path), "--external-id", "Id", "--wait", "5")
    job = result["jobInfo"]
    assert (job["state"], job["operation"], job["numberRecordsProcessed"],
            job["numberRecordsFailed"]) == ("JobComplete", "upsert", 2, 0)
    ok = result["records"]["successfulResults"]
    assert [(r["Name"], r["sf__Created"]) for r in ok] == [
        ("Acme Corporation", "false"), ("Upserted By The CLI", "true")]
    assert ok[0]["sf__Id"] == acme["Id"]
    assert emu.call("GET", f"{V}/sobjects/Account/{acme['Id']}")["Industry"] == "Retail"
    new = emu.call("GET", f"{V}/sobjects/Account/{ok[1]['sf__Id']}")
    assert (new["Name"], new["Industry"]) == ("Upserted By The CLI", "Shipping")


def test_sobject_describe(emu: EmulatorHandle, home: Path, login: dict[str, Any]) -> None:
    result = _sf(emu, home, "sobject", "describe", "--target-org", ALIAS, "--sobject",
                 "Opportunity")
    want = emu.call("GET", f"{V}/sobjects/Opportunity/describe")
    assert (result["name"], result["keyPrefix"]) == ("Opportunity", "006")
    assert [f["name"] for f in result["fields"]] == [f["name"] for f in want["fields"]]
    stage = next(f for f in result["fields"] if f["name"] == "StageName")
    assert [v["value"] for v in stage["picklistValues"]][-2:] == ["Closed Won", "Closed Lost"]
