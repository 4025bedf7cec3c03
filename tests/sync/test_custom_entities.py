"""An admin adds Contact and new fields in mapping.yaml: check, sync --once, export, status.

The real CLI (in-process, through its entry point) against the emulator over HTTPS, on SQLite
and PostgreSQL. The emulator's org has no unmapped custom field, so the new fields on existing
objects are standard ones the default mapping leaves out (Account.Type,
Opportunity.Probability); they take the same path.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle
from connector.mapping import load_mapping

from .orgtools import compare_entity
from clirunner import CliResult, invoke
from prmfixtures import sf_client, sf_env, write_config

pytestmark = pytest.mark.slow

CONTACT = """
  contact:
    sobject: Contact
    fields:
      first_name: FirstName
      last_name:  LastName
      email:      Email
      account:    {crm: AccountId, lookup: partner}
"""


def _admin_mapping(cfg: Path) -> Path:
    mapping = cfg / "mapping.yaml"
    text = mapping.read_text()
    text = text.replace("      website: Website\n",
                        "      website: Website\n      account_type: Type\n", 1)
    text = text.replace("      is_won:     {crm: IsWon, type: bool}\n",
                        "      is_won:     {crm: IsWon, type: bool}\n"
                        "      probability: {crm: Probability, type: float}\n", 1)
    mapping.write_text(text + CONTACT)
    return mapping


def _cli(emu: EmulatorHandle, url: str, cfg: Path, *args: str) -> CliResult:
    env: dict[str, str | None] = {"PRM_CONFIG": None, **sf_env(emu, url)}
    return invoke("-c", str(cfg / "connector.yaml"), *args, env=env)


def test_admin_adds_contact_and_new_fields_check_sync_and_export_work(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """check passes; sync --once mirrors contacts and the new fields; export contact works."""
    engine, url = store
    emulator.reset(seed="demo", records=40)
    # the emulator stamps a change as it commits: no late commits, so no signpost skew
    write_config(tmp_path, sync={"signpost_skew_seconds": 0})
    mapping = _admin_mapping(tmp_path)

    checked = _cli(emulator, url, tmp_path, "check", "--json")
    assert checked.exit_code == 0, checked.stderr
    assert "contact" in json.loads(checked.stdout)["entities"]

    admin = sf_client(emulator)
    partners = admin.query("SELECT Id FROM Account WHERE IsPartner = true LIMIT 2")["records"]
    admin.Account.update(partners[0]["Id"], {"Type": "Technology Partner"})
    # the seed's one contact: the partner user's (a portal user belongs to a contact)
    seeded = {r["Id"] for r in admin.query("SELECT Id FROM Contact")["records"]}
    assert len(seeded) == 1
    made = [
        admin.Contact.create({"FirstName": f"Pat{i}", "LastName": f"Partner{i}",
                              "Email": f"pat{i}@partner.example",
                              "AccountId": partners[i % 2]["Id"]})["id"]
        for i in range(5)
    ]
    made.append(admin.Contact.create({"LastName": "=HYPERLINK(\"http://x\")"})["id"])

    first = _cli(emulator, url, tmp_path, "sync", "--once", "--json")
    assert first.exit_code == 0, first.stderr
    runs = {o["entity"]: o for o in json.loads(first.stdout)["objects"]}
    assert runs["contact"]["seen"] == 7 and runs["contact"]["dead_letters"] == 0

    admin.Contact.update(made[0], {"Email": "changed@partner.example"})
    second = _cli(emulator, url, tmp_path, "sync", "--once", "--json")
    assert second.exit_code == 0, second.stderr

    spec = load_mapping(mapping)
    for name in ("contact", "partner", "deal"):
        assert compare_entity(engine, admin, spec.entities[name]) == [], name

    exported = _cli(emulator, url, tmp_path, "export", "contact")
    assert exported.exit_code == 0, exported.stderr
    rows = {r["sf_id"]: r for r in map(json.loads, exported.stdout.splitlines())}
    assert set(rows) == set(made) | seeded
    assert rows[made[0]]["email"] == "changed@partner.example"
    assert rows[made[0]]["account_sf_id"] == partners[0]["Id"]
    assert rows[made[1]]["account_sf_id"] == partners[1]["Id"]
    as_csv = _cli(emulator, url, tmp_path, "export", "contact", "--format", "csv")
    cells = {r["sf_id"]: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert cells[made[5]]["last_name"] == "'=HYPERLINK(\"http://x\")"
    partners_out = _cli(emulator, url, tmp_path, "export", "partner")
    exported_partners = map(json.loads, partners_out.stdout.splitlines())
    account_type = {r["sf_id"]: r["account_type"] for r in exported_partners}
    assert account_type[partners[0]["Id"]] == "Technology Partner"

    status = _cli(emulator, url, tmp_path, "status", "--json")
    assert status.exit_code == 0, status.stderr
    counts = {o["entity"]: o["rows"] for o in json.loads(status.stdout)["objects"]}
    assert counts["contact"] == 7
