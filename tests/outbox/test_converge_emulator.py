"""Out-fields converge: writes lost after Salesforce said yes, and people editing fields the
connector owns, are repaired by one `reconcile`; a reconcile that finds everything in
agreement writes nothing. A partner whose tier never changes still gets it written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite, enqueue
from connector.outbox.dispatcher import Dispatcher, dispatch
from connector.salesforce.results import RecordResult
from connector.service import Runtime, open_runtime, sync_once
from connector.store.models import entity_table

from clirunner import invoke
from prmfixtures import CONFIG_DIR, sf_client, sf_env, write_config

OWNED = ("Certifications__c", "Partner_Points__c", "Partner_Tier__c")  # the `out` fields
LOCAL = {"Certifications__c": "certifications", "Partner_Points__c": "points",
         "Partner_Tier__c": "tier"}
WRITES = ("composite", "sobjects", "jobs")  # endpoint names of the calls that write


class LossyClient:
    """Passes calls to the real client but drops every other record it is asked to write,
    answering success for all of them (a write lost after Salesforce said yes)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.user_id = real.user_id
        self.lost: list[str] = []

    @property
    def calls(self) -> int:
        return int(self.real.calls)

    def collection(self, op: Any, sobject: str, payloads: list[dict[str, Any]],
                   external_id_field: str | None = None) -> list[RecordResult]:
        kept = payloads[::2]
        self.lost += [str(p["Id"]) for p in payloads[1::2]]
        got = iter(self.real.collection(op, sobject, kept, external_id_field=external_id_field))
        return [next(got) if i % 2 == 0 else RecordResult(i, p.get("Id"), True)
                for i, p in enumerate(payloads)]


@pytest.fixture
def setup(emulator: EmulatorHandle, store: tuple[Engine, str],
          tmp_path: Path) -> Iterator[tuple[Runtime, dict[str, str]]]:
    _, url = store
    emulator.reset(seed="demo")
    cfg = write_config(tmp_path, sync={"signpost_skew_seconds": 0, "lag_seconds": 0})
    shutil.copyfile(CONFIG_DIR / "programs.yaml", tmp_path / "programs.yaml")
    env = sf_env(emulator, url)
    rt = open_runtime(cfg, env=env)
    yield rt, {**env, "PRM_CONFIG": str(cfg)}
    rt.close()


def _store(rt: Runtime) -> dict[str, dict[str, Any]]:
    partner = entity_table("partner")
    with rt.engine.connect() as conn:
        rows = conn.execute(select(partner).where(partner.c.is_deleted.is_(False))).mappings()
        return {str(r["sf_id"]): dict(r) for r in rows}


def _org(emulator: EmulatorHandle) -> dict[str, dict[str, Any]]:
    rows = sf_client(emulator).query_all(
        f"SELECT Id, Name, {', '.join(OWNED)} FROM Account WHERE IsPartner = true")["records"]
    return {r["Id"]: r for r in rows}


def _disagreements(rt: Runtime, emulator: EmulatorHandle) -> list[str]:
    """Owned fields where the org's copy differs from a value the store holds."""
    store, org = _store(rt), _org(emulator)
    out = []
    for sf_id, row in store.items():
        for crm, local in LOCAL.items():
            mine, theirs = row.get(local), org[sf_id].get(crm)
            if mine is None:
                continue
            if isinstance(mine, float) and isinstance(theirs, int | float):
                same = abs(mine - float(theirs)) < 1e-9
            else:
                same = mine == theirs
            if not same:
                out.append(f"{row['name']}.{crm}: store {mine!r}, org {theirs!r}")
    return out


def _write_calls(emulator: EmulatorHandle) -> dict[str, int]:
    return {k: v for k, v in emulator.stats()["by_endpoint"].items()
            if any(w in k.lower() for w in WRITES)}


def test_a_partner_at_the_ladders_bottom_has_its_tier_in_salesforce_after_one_cycle(
    emulator: EmulatorHandle, setup: tuple[Runtime, dict[str, str]]
) -> None:
    """Litware stays Registered (its membership's level): one `sync --once` writes
    Partner_Tier__c = Registered, which no level change would ever have queued."""
    rt, _ = setup
    litware = next(r for r in _org(emulator).values() if r["Name"] == "Litware Consulting")
    sf_client(emulator).Account.update(litware["Id"], {"Partner_Tier__c": None})  # no tier
    sync_once(rt)
    assert _org(emulator)[litware["Id"]]["Partner_Tier__c"] == "Registered"
    assert _store(rt)[litware["Id"]]["tier"] == "Registered"


def test_lost_writes_and_admin_edits_are_repaired_by_one_reconcile_and_then_nothing_is_sent(
    emulator: EmulatorHandle, setup: tuple[Runtime, dict[str, str]]
) -> None:
    """After a cycle, points written through a client that loses half the writes (recorded
    done all the same) and an admin overwriting owned fields: one `reconcile` makes every
    owned field in the org equal the store; a second finds nothing and calls no write API."""
    rt, env = setup
    sync_once(rt)
    assert _disagreements(rt, emulator) == []
    store = _store(rt)
    ids = sorted(store)
    assert len(ids) >= 4

    # the connector changes points on four partners; half the writes are lost
    partner = entity_table("partner")
    writes = []
    with rt.engine.begin() as conn:
        for n, sf_id in enumerate(ids[:4]):
            conn.execute(update(partner).where(partner.c.sf_id == sf_id)
                         .values(points=1000.0 + n))
            writes.append(OutboxWrite("Account", "update", {"Partner_Points__c": 1000.0 + n},
                                      f"test:{n}", sf_id=sf_id, entity="partner"))
        enqueue(conn, writes)
    lossy = LossyClient(rt.client())
    report = Dispatcher(rt.engine, lossy, rt.spec, rt.settings.outbox).run()  # type: ignore[arg-type]
    assert report.written == 4 and len(lossy.lost) == 2

    # a person edits fields the connector owns
    admin = sf_client(emulator)
    tiered = next(i for i in ids[4:] if store[i]["tier"] not in (None, "Platinum"))
    admin.Account.update(tiered, {"Partner_Tier__c": "Platinum"})
    admin.Account.update(ids[0], {"Partner_Points__c": 5})
    broken = _disagreements(rt, emulator)
    assert len(broken) == 4, broken

    first = invoke("reconcile", "--json", env=env)
    assert first.exit_code == 0, first.stderr
    done = json.loads(first.stdout)
    assert done["stages"]["writeback"]["repaired"] == 4
    assert done["repairs"]["partner"]["fields"] == {"Partner_Points__c": 3, "Partner_Tier__c": 1}
    assert done["stages"]["outbox"]["written"] == 4
    assert _disagreements(rt, emulator) == []

    before = _write_calls(emulator)
    second = invoke("reconcile", env=env)
    assert second.exit_code == 0, second.stderr
    assert "every field the connector owns agrees" in second.stdout
    assert _write_calls(emulator) == before  # no write call: only the reads of the scan
    assert _disagreements(rt, emulator) == []


def test_three_points_changes_queued_together_leave_the_last_in_salesforce(
    emulator: EmulatorHandle, setup: tuple[Runtime, dict[str, str]]
) -> None:
    """The reported case end to end: three points values for one partner queued in one
    transaction (one created_at); after a cycle Salesforce holds the last one, read back."""
    rt, _ = setup
    sync_once(rt)
    sf_id = sorted(_store(rt))[0]
    with rt.engine.begin() as conn:
        enqueue(conn, [OutboxWrite("Account", "update", {"Partner_Points__c": float(v)},
                                   f"points:{n}", sf_id=sf_id, entity="partner")
                       for n, v in enumerate((150, 300, 600))])
    assert dispatch(rt).written == 1
    assert _org(emulator)[sf_id]["Partner_Points__c"] == 600
