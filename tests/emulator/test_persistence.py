"""`emulator serve --state-dir`: the org survives a restart (subprocess, SIGTERM, start again)."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from connector.emulator.org import Org
from connector.emulator.testing import EmulatorHandle, running_emulator


def _get(emu: EmulatorHandle, path: str) -> requests.Response:
    return requests.get(
        f"{emu.instance_url}{path}",
        headers={"Authorization": f"Bearer {emu.token('admin')}"},
        verify=emu.ca_bundle,
        timeout=30,
    )


def test_records_and_deletes_survive_a_restart_with_a_state_dir(tmp_path: Path) -> None:
    """Given a record created and another deleted, when the emulator is stopped with SIGTERM
    and started on the same state dir, both are as they were (queryAll still sees the delete)."""
    state = tmp_path / "org"
    with running_emulator(seed="empty", in_process=False, state_dir=state) as emu:
        keep = emu.call(
            "POST", "/services/data/v62.0/sobjects/Account/", json={"Name": "Persistent Partners"}
        )["id"]
        gone = emu.call(
            "POST", "/services/data/v62.0/sobjects/Account/", json={"Name": "Short Lived"}
        )["id"]
        emu.call("DELETE", f"/services/data/v62.0/sobjects/Account/{gone}")
    assert (state / "org.json").exists() and not (state / "org.pickle").exists()
    with running_emulator(seed="empty", in_process=False, state_dir=state) as emu:
        assert _get(emu, f"/services/data/v62.0/sobjects/Account/{keep}").json()["Name"] == (
            "Persistent Partners"
        )
        assert _get(emu, f"/services/data/v62.0/sobjects/Account/{gone}").status_code == 404
        q = _get(
            emu,
            f"/services/data/v62.0/queryAll/?q=SELECT+IsDeleted+FROM+Account+WHERE+Id+=+'{gone}'",
        ).json()
        assert q["records"][0]["IsDeleted"] is True
        stats = _get(emu, "/_emulator/stats").json()
        assert stats["api_calls"] >= 3, json.dumps(stats)


def test_a_state_saved_before_the_organization_fields_gets_them(tmp_path: Path) -> None:
    """A state saved when the Organization had only its Name loads with the fields the
    Salesforce CLI queries, as a production org answers them."""
    old = Org(seed="empty", state_dir=tmp_path)
    record = old.store["Organization"][old.organization_id]
    for name in ("InstanceName", "IsSandbox", "OrganizationType", "NamespacePrefix",
                 "TrialExpirationDate"):
        del record[name]
    old.save()
    rows = Org(seed="empty", state_dir=tmp_path).query(
        "SELECT Name, IsSandbox, OrganizationType, TrialExpirationDate FROM Organization").records
    assert [(r["Name"], r["IsSandbox"], r["OrganizationType"], r["TrialExpirationDate"])
            for r in rows] == [("PRM Emulator", False, "Enterprise Edition", None)]
