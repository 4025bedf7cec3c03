"""The partner portal against the emulator: segments and eligibility written to Salesforce.

A held-out segment and incentive are added to the default programs.yaml; one `sync --once`
puts on every partner Account exactly its segments and creates exactly its eligibility
records (read back with simple-salesforce as the admin, and as a partner's portal user, who
sees its own records and no other partner's); `partner eligible --json` says the same; a
partner leaving the segment loses what it granted within one cycle; a quiet cycle writes
nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceResourceNotFound
from sqlalchemy import select

from connector.emulator.testing import EmulatorHandle
from connector.programs.portal import wanted_records
from connector.programs.views import eligibility
from connector.service import Runtime, open_runtime, sync_once
from connector.store.models import entity_table
from connector.store.types import utcnow

from clirunner import invoke
from prmfixtures import sf_client

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EMEA = ("United Kingdom", "Germany", "France")
SEGMENT = """\
  emea-resellers:
    description: Resellers and distributors in three EMEA countries.
    when: >
      partner.country in ['United Kingdom', 'Germany', 'France']
      && partner.type in ['Reseller', 'Distributor']
"""
INCENTIVE = """\
  emea-reseller-rebate:
    program: partner-network
    kind: rebate
    name: EMEA reseller rebate
    percent: 2
    eligible: {segments: [emea-resellers]}
"""
ELIGIBILITY_SOQL = ("SELECT Id, Name, Partner__c, Kind__c, Key__c, Why__c, Since__c, PRM_Key__c "
                    "FROM Partner_Eligibility__c")


def _config(tmp_path: Path) -> Path:
    for name in ("connector.yaml", "mapping.yaml", "programs.yaml"):
        (tmp_path / name).write_text((ROOT / "config" / name).read_text())
    (tmp_path / "triggers.yaml").write_text("triggers: []\n")
    programs = tmp_path / "programs.yaml"
    text = programs.read_text().replace("segments:\n", "segments:\n" + SEGMENT, 1)
    programs.write_text(text.replace("incentives:\n", "incentives:\n" + INCENTIVE, 1))
    path = tmp_path / "connector.yaml"
    path.write_text(re.sub(r"(?m)^  signpost_skew_seconds: .*$", "  signpost_skew_seconds: 0",
                           path.read_text()))
    return path


@pytest.fixture
def portal(emulator: EmulatorHandle, tmp_path: Path) -> Iterator[tuple[Runtime, dict[str, str]]]:
    emulator.reset("demo")
    env = {**emulator.connector_env(), "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
           "PRM_CONFIG": str(_config(tmp_path))}
    rt = open_runtime(Path(env["PRM_CONFIG"]), env=env)
    try:
        yield rt, env
    finally:
        rt.close()


def _wanted(rt: Runtime) -> dict[str, tuple[list[str], set[tuple[str, str, str]]]]:
    """Partner sf_id -> (its segments, its eligibility records as (kind, key, name)), as the
    store's `partner eligible` answers."""
    assert rt.programs is not None
    partner = entity_table("partner")
    out = {}
    with rt.engine.connect() as conn:
        for pid, sf_id in conn.execute(select(partner.c.id, partner.c.sf_id).where(
                partner.c.is_deleted.is_(False))):
            answer = eligibility(conn, rt.programs, pid, utcnow())
            out[str(sf_id)] = (answer["segments"], {
                (w.kind, w.key, w.name) for w in wanted_records(rt.programs, answer)})
    return out


def _org(sf: Salesforce) -> dict[str, tuple[list[str], set[tuple[str, str, str]]]]:
    """Partner sf_id -> (segments on its Account, its eligibility records), read from the org."""
    records: dict[str, set[tuple[str, str, str]]] = {}
    for r in sf.query_all(ELIGIBILITY_SOQL)["records"]:
        records.setdefault(r["Partner__c"], set()).add((r["Kind__c"], r["Key__c"], r["Name"]))
    accounts = sf.query_all("SELECT Id, Partner_Segments__c FROM Account WHERE IsPartner = true")
    return {a["Id"]: (sorted((a["Partner_Segments__c"] or "").split(";")) if
                      a["Partner_Segments__c"] else [], records.get(a["Id"], set()))
            for a in accounts["records"]}


def _writes(emulator: EmulatorHandle) -> int:
    """Calls so far that write: sObject Collections (composite) and Bulk jobs."""
    return sum(n for k, n in emulator.stats()["by_endpoint"].items()
               if "composite" in k or "jobs" in k)


def test_partners_get_exactly_their_segments_and_eligibility_and_lose_them_on_leaving(
    emulator: EmulatorHandle, portal: tuple[Runtime, dict[str, str]]
) -> None:
    rt, env = portal
    sync_once(rt)
    sync_once(rt)  # echoes of our writes fire nothing
    admin = sf_client(emulator)
    want = _wanted(rt)
    assert _org(admin) == want
    emea = {sf for sf, (segs, _) in want.items() if "emea-resellers" in segs}
    assert emea and len(emea) < len(want)  # the held-out segment splits the partners
    assert all(("incentive", "emea-reseller-rebate", "EMEA reseller rebate") in want[sf][1]
               for sf in emea)

    # `partner eligible --json` and the records in Salesforce say the same thing
    member = sorted(emea)[0]
    res = invoke("partner", "eligible", member, "--json", env=env)
    assert res.exit_code == 0, res.stderr
    answer = json.loads(res.stdout)
    assert rt.programs is not None
    said = {(w.kind, w.key, w.name) for w in wanted_records(rt.programs, answer)}
    assert said == _org(admin)[member][1] and answer["segments"] == _org(admin)[member][0]

    # the partner's portal user reads its own account's records and no other partner's
    portal_user = sf_client(emulator, "partner")
    me = portal_user.query("SELECT AccountId, ContactId, Contact.AccountId FROM User "
                           f"WHERE Id = '{emulator.users['partner']['id']}'")["records"][0]
    mine = me["AccountId"]
    assert mine and me["Contact"]["AccountId"] == mine and me["ContactId"].startswith("003")
    seen = portal_user.query_all(ELIGIBILITY_SOQL)["records"]
    assert seen and {r["Partner__c"] for r in seen} == {mine}
    assert {(r["Kind__c"], r["Key__c"], r["Name"]) for r in seen} == want[mine][1]
    other = next(r for r in admin.query_all(ELIGIBILITY_SOQL)["records"]
                 if r["Partner__c"] != mine)
    assert admin.Partner_Eligibility__c.get(other["Id"])["Id"] == other["Id"]
    with pytest.raises(SalesforceResourceNotFound):
        portal_user.Partner_Eligibility__c.get(other["Id"])

    # a quiet cycle writes nothing
    before = _writes(emulator)
    sync_once(rt)
    assert _writes(emulator) == before

    # the partner moves out of EMEA: one cycle later the segment and the rebate are gone
    admin.Account.update(member, {"BillingCountry": "Canada"})
    sync_once(rt)
    assert _writes(emulator) >= before + 2  # the Account's segments, the rebate's delete
    org = _org(admin)
    assert "emea-resellers" not in org[member][0]
    assert not any(k == "emea-reseller-rebate" for _, k, _ in org[member][1])
    assert org == _wanted(rt)

    # a person blanks a partner's segments in Salesforce: one `reconcile` writes them back
    segmented = sorted(sf for sf, (segs, _) in org.items() if segs)
    assert segmented, "the default segments hold some demo partner"
    admin.Account.update(segmented[0], {"Partner_Segments__c": None})
    fixed = invoke("reconcile", "--json", env=env)
    assert fixed.exit_code == 0, fixed.stderr
    repairs = json.loads(fixed.stdout)["repairs"]["partner"]["fields"]
    assert repairs == {"Partner_Segments__c": 1}
    assert _org(admin) == _wanted(rt)
