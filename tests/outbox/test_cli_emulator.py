"""`outbox dispatch|list|retry|drop|conflicts` as a user runs them (in-process, through the
CLI's entry point), against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle
from connector.outbox import OutboxWrite

from .orgdata import approvals, create_registrations, org_registrations, queue
from clirunner import invoke
from prmfixtures import sf_client, sf_env, write_config


def test_a_dead_write_is_listed_with_its_reason_retried_after_a_fix_and_another_dropped(
    emulator: EmulatorHandle, store: tuple[Engine, str], tmp_path: Path
) -> None:
    """Given a good approval and two writes Salesforce refuses, `outbox dispatch` lands the
    good one; `outbox list --status dead` shows the others with Salesforce's reason; once the
    cause is fixed `outbox retry --id` sends one again; `outbox drop --reason` discards the
    other with the reason kept; `outbox conflicts --json` is an empty list."""
    engine, url = store
    emulator.reset(seed="demo")
    cfg = write_config(tmp_path)
    env = {**sf_env(emulator, url), "PRM_CONFIG": str(cfg)}
    good, bad, worse = create_registrations(emulator, 3)
    queue(engine, approvals([good]))
    queue(engine, [
        OutboxWrite(sobject="Deal_Registration__c", operation="update", sf_id=i,
                    fields={"Status__c": "Approved-ish"}, cause=f"bad:{i}",
                    entity="deal_registration")
        for i in (bad, worse)
    ])

    sent = invoke("outbox", "dispatch", "--json", env=env)
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(sent.stdout)["written"] == 1

    listed = invoke("outbox", "list", "--status", "dead", "--json", env=env)
    dead = json.loads(listed.stdout)
    assert dead["summary"]["dead"] == 2
    assert {i["error_code"] for i in dead["items"]} == {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"}
    status = json.loads(invoke("status", "--json", env=env).stdout)
    assert (status["outbox"]["dead"], status["outbox"]["done"]) == (2, 1)
    first = next(i for i in dead["items"] if i["record"] == bad)
    other = next(i for i in dead["items"] if i["record"] == worse)

    # the cause is fixed (here: the write itself is corrected), then retried
    with engine.begin() as conn:
        from sqlalchemy import update

        from connector.outbox.queue import ITEMS

        payload = {**conn.execute(ITEMS.select().where(ITEMS.c.id == first["id"]))
                   .mappings().one()["payload"]}
        payload["fields"] = {"Status__c": "Rejected"}
        conn.execute(update(ITEMS).where(ITEMS.c.id == first["id"]).values(payload=payload))
    retried = invoke("outbox", "retry", "--id", first["id"][:12], "--json", env=env)
    assert json.loads(retried.stdout)["retried"] == [first["id"]]
    dropped = invoke("outbox", "drop", other["id"], "--reason", "registration withdrawn",
                      env=env)
    assert dropped.exit_code == 0, dropped.stderr
    again = invoke("outbox", "dispatch", "--json", env=env)
    assert json.loads(again.stdout)["written"] == 1

    org = org_registrations(sf_client(emulator), [good, bad, worse])
    assert [org[i]["Status__c"] for i in (good, bad, worse)] == [
        "Approved", "Rejected", "Submitted"]
    final = json.loads(invoke("outbox", "list", "--json", env=env).stdout)
    assert final["summary"] | {"oldest_pending": None} == {
        "pending": 0, "dead": 0, "done": 2, "dropped": 1, "oldest_pending": None,
        "conflicts": 0}
    assert next(i for i in final["items"] if i["id"] == other["id"])["reason"] == (
        "registration withdrawn")
    assert json.loads(invoke("outbox", "conflicts", "--json", env=env).stdout) == []

    usage = invoke("outbox", "retry", env=env)
    assert usage.exit_code == 2
    assert "exactly one of --id ID or --all" in usage.stderr
