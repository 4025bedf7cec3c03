"""Action executors: each changes local rows and returns the outbox writes it wants queued.

Every executor runs inside the consumer's transaction and never calls Salesforce: the caller
queues the returned ``OutboxWrite``s with ``enqueue`` in the same transaction. Salesforce
targets follow the default org (docs/model.md); field names come from mapping.yaml's
``to_crm``, so a field the mapping does not write out is changed locally only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, select

from connector.mapping.spec import MappingSpec
from connector.outbox.crmform import LocalRecord, build_writes
from connector.outbox.items import OutboxWrite
from connector.partners.actions import (
    ActionDef,
    ActionEnv,
    ActionFailed,
    ActionResult,
    Executor,
    PlannedAction,
    RuleSettings,
)
from connector.partners.fiscal import quarter_of
from connector.partners.points import award_points
from connector.partners.tiers import (
    PENDING,
    apply_tier,
    level_named,
    membership_of,
    partner_row,
    pending_key,
    record_row,
    set_level_now,
    set_local,
    update_write,
)
from connector.store.bookkeeping import TriggerFiring
from connector.store.models import entity_table
from connector.store.sqlutil import upsert_stmt
from connector.triggers.catalogue import ACTIONS

__all__ = [
    "BUILTIN_ACTIONS",
    "EXECUTORS",
    "ActionEnv",
    "ActionFailed",
    "ActionResult",
    "apply_due_pending",
    "review_tier_without_programs",
    "run_action",
    "set_level_now",
]

FIRING: Table = TriggerFiring.__table__  # type: ignore[attr-defined]
REGISTRATION_STATUS = {
    "approve_registration": "Approved",
    "reject_registration": "Rejected",
    "route_for_review": "Pending Review",
}

# the helpers the executors below share live in the partner layer (ladders use them too)
_row = record_row
_partner = partner_row
_set_local = set_local
_update = update_write


def _upsert(
    env: ActionEnv, entity: str, local_id: int, values: dict[str, Any]
) -> list[OutboxWrite]:
    """An upsert, by the entity's external id field, of a record the connector creates."""
    writes, _ = build_writes(env.conn, env.spec, [LocalRecord(
        entity, local_id, None, values, env.cause, meta={"rule": env.rule_id})])
    return writes


def _key(prefix: str, *parts: Any) -> str:
    """An external id (PRM_Key__c, at most 80 characters) fixed by its parts."""
    digest = hashlib.sha256(orjson.dumps([str(p) for p in parts])).hexdigest()[:24]
    return f"PRM-{prefix}-{digest}"


# -- registration decisions -------------------------------------------------------------------


def _registration(env: ActionEnv, action: PlannedAction) -> ActionResult:
    if env.entity != "deal_registration" or env.local_id is None:
        raise ActionFailed(f"{action.name} needs a deal_registration record")
    status = REGISTRATION_STATUS[action.name]
    reason = str(action.params.get("reason") or "")[:1000]
    values = {"status": status, "decision_reason": reason}
    _set_local(env, "deal_registration", env.local_id, values)
    writes = _update(env, "deal_registration", env.sf_id, env.local_id, values)
    return ActionResult(action.name, "done", f"status {status}: {reason}".strip(": "), writes,
                        partner_changed=True, changed=frozenset({"deal_registration"}))


# -- tiers ------------------------------------------------------------------------------------


def _set_tier(env: ActionEnv, action: PlannedAction) -> ActionResult:
    partner = _partner(env)
    member = membership_of(env.conn, partner["id"])
    wanted = str(action.params["level"])
    level = level_named(env.conn, wanted, member.get("program") if member else None)
    if level is None:
        raise ActionFailed(f"set_tier: no level named '{wanted}' in the partner's program")
    current = None
    if member is not None and member.get("level") is not None:
        current = _row(env.conn, "level", member["level"])
    if current is not None and current["id"] == level["id"]:
        env.conn.execute(delete(PENDING).where(PENDING.c.key == pending_key(partner["id"])))
        return ActionResult(action.name, "skipped", f"already {wanted}")
    if current is not None and float(current.get("rank") or 0) > float(level.get("rank") or 0):
        due = env.now + timedelta(days=env.settings.downgrade_grace_days)
        stmt = upsert_stmt(env.conn, PENDING).values(
            key=pending_key(partner["id"]), kind="set_tier", entity="partner",
            local_id=partner["id"], due_at=due, created_at=env.now,
            payload={"level": wanted, "level_id": level["id"], "cause": env.cause,
                     "rule": env.rule_id},
        )
        # a second downgrade request keeps the first one's due date
        env.conn.execute(stmt.on_conflict_do_update(
            index_elements=["key"], set_={"payload": stmt.excluded.payload}))
        return ActionResult(action.name, "pending",
                            f"downgrade {current['name']} -> {wanted} waits until "
                            f"{due.date().isoformat()}")
    writes = apply_tier(env, partner, member, level)
    was = current["name"] if current else "no level"
    return ActionResult(action.name, "done", f"{was} -> {wanted}", writes, partner_changed=True)


def review_tier_without_programs(env: ActionEnv, action: PlannedAction) -> ActionResult:
    """Without programs.yaml there is no ladder to review against (programs replaces this)."""
    return ActionResult(action.name, "skipped", "no programs.yaml: no tier ladder to review")


def apply_due_pending(
    conn: Connection, spec: MappingSpec, settings: RuleSettings, now: datetime
) -> list[tuple[str, dict[str, Any], ActionResult]]:
    """Deferred tier downgrades whose grace period is over, carried out in the caller's tx.

    Returns (rule id, partner row, result) for each.
    """
    rows = conn.execute(select(PENDING).where(PENDING.c.due_at <= now)).mappings().all()
    results = []
    for row in rows:
        payload = row["payload"] or {}
        cause = f"{row['key']}|due|{row['due_at'].isoformat()}"
        env = ActionEnv(conn, spec, settings, now, str(payload.get("rule", "")), "partner",
                        row["local_id"], None, {}, cause)
        partner = _row(conn, "partner", row["local_id"])
        member = membership_of(env.conn, partner["id"])
        level = _row(conn, "level", int(payload["level_id"]))
        writes = apply_tier(env, partner, member, level)
        results.append((env.rule_id, partner, ActionResult(
            "set_tier", "done", f"downgrade to {level['name']} after the grace period", writes,
            partner_changed=True)))
    return results


# -- MDF --------------------------------------------------------------------------------------


def _period(env: ActionEnv, once_per: str) -> str:
    quarter = quarter_of(env.now.date(), env.settings.fiscal_year_start_month)
    return {"quarter": quarter.label, "year": f"FY{quarter.year}"}.get(once_per, "ever")


def _claim(env: ActionEnv, key: str) -> bool:
    """Record a once-per-period key; False if this period already has it."""
    stmt = upsert_stmt(env.conn, FIRING).values(
        key=key, trigger_id=env.rule_id, entity=env.entity, local_id=env.local_id,
        fired_at=env.now, result={"period_claim": True, "cause": env.cause},
    ).on_conflict_do_nothing(index_elements=["key"]).returning(FIRING.c.id)
    return env.conn.execute(stmt).first() is not None


def _budget(env: ActionEnv, title: str | None) -> dict[str, Any] | None:
    budget = entity_table("mdf_budget")
    stmt = select(budget).where(budget.c.is_deleted.is_(False))
    if title:
        stmt = stmt.where(budget.c.title == title)
    else:
        today: date = env.now.date()
        stmt = stmt.where(
            (budget.c.start_date <= today) | budget.c.start_date.is_(None),
            (budget.c.end_date >= today) | budget.c.end_date.is_(None),
        )
    row = env.conn.execute(stmt.order_by(budget.c.start_date.desc(), budget.c.id)
                           .limit(1)).mappings().first()
    return dict(row) if row else None


def _allocate_mdf(env: ActionEnv, action: PlannedAction) -> ActionResult:
    partner = _partner(env)
    amount = round(float(action.params["amount"]), 2)
    if amount <= 0:
        return ActionResult(action.name, "skipped", f"amount {amount} is not positive")
    period = _period(env, str(action.params.get("once_per", "quarter")))
    claim = f"{env.rule_id}|allocate_mdf|partner|{partner['id']}|{period}"
    if not _claim(env, claim):
        return ActionResult(action.name, "skipped", f"already allocated for {period}")
    budget = _budget(env, action.params.get("budget"))
    if budget is None and action.params.get("budget"):
        raise ActionFailed(f"allocate_mdf: no MDF budget titled '{action.params['budget']}'")
    title = str(action.params.get("title") or f"{partner.get('name') or 'Partner'} MDF {period}")
    key = _key("MDF", env.rule_id, partner["id"], period)
    table = entity_table("mdf_allocation")
    values = {"title": title[:255], "budget": budget["id"] if budget else None,
              "partner": partner["id"], "amount": amount, "prm_key": key}
    env.conn.execute(upsert_stmt(env.conn, table).values(
        **values, created_at=env.now, updated_at=env.now, is_deleted=False,
    ).on_conflict_do_nothing(index_elements=["prm_key"]))
    local_id = env.conn.execute(select(table.c.id).where(table.c.prm_key == key)).scalar_one()
    writes = _upsert(env, "mdf_allocation", local_id, values)
    return ActionResult(action.name, "done", f"{amount:.2f} for {period}", writes,
                        partner_changed=True)


def _approve_mdf_request(env: ActionEnv, action: PlannedAction) -> ActionResult:
    row = _row(env.conn, "mdf_request", env.local_id)
    amount = action.params.get("amount")
    if amount is None:
        amount = row.get("requested_amount")
    if amount is None:
        raise ActionFailed("approve_mdf_request: the request has no requested amount")
    values = {"status": "Approved", "amount": round(float(amount), 2)}
    _set_local(env, "mdf_request", row["id"], values)
    writes = _update(env, "mdf_request", row.get("sf_id"), row["id"], values)
    reason = str(action.params.get("reason") or "")
    return ActionResult(action.name, "done", f"approved {values['amount']:.2f} {reason}".strip(),
                        writes, partner_changed=True)


# -- points, tasks, webhooks, fields -------------------------------------------------------------


def _award_points(env: ActionEnv, action: PlannedAction) -> ActionResult:
    """Points into the partner's ledger, once per firing (a replayed batch adds nothing)."""
    partner = _partner(env)
    points = round(float(action.params["points"]))
    reason = str(action.params.get("reason") or "")
    out = award_points(env.conn, partner, points, reason=reason or f"rule {env.rule_id}",
                       cause=env.cause, now=env.now,
                       award_key=f"{env.cause}|award_points|{points}|{reason}")
    writes = []
    if out.mirror is not None:
        writes = _update(env, "partner", partner.get("sf_id"), partner["id"],
                         {"points": out.mirror[1]})
    return ActionResult(action.name, "done" if out.done else "skipped", out.detail, writes,
                        partner_changed=out.done)


def _create_task(env: ActionEnv, action: PlannedAction) -> ActionResult:
    partner = _partner(env)
    p = action.params
    key = _key("TASK", env.cause, p["subject"])
    due = env.now.date() + timedelta(days=int(p.get("due_in_days", 7)))
    values: dict[str, Any] = {
        "subject": str(p["subject"])[:255], "activity_date": due, "status": "Not Started",
        "priority": p.get("priority", "Normal"), "what": partner.get("sf_id"),
        "owner": partner.get("channel_manager"), "description": p.get("description") or None,
        "prm_key": key,
    }
    table = entity_table("task")
    env.conn.execute(upsert_stmt(env.conn, table).values(
        **values, created_at=env.now, updated_at=env.now, is_deleted=False,
    ).on_conflict_do_nothing(index_elements=["prm_key"]))
    local_id = env.conn.execute(select(table.c.id).where(table.c.prm_key == key)).scalar_one()
    writes = _upsert(env, "task", local_id, values)
    owner = values["owner"] or "the integration user (partner has no channel manager)"
    return ActionResult(action.name, "done", f"task '{values['subject']}' due {due} for {owner}",
                        writes)


def _notify(env: ActionEnv, action: PlannedAction) -> ActionResult:
    body = orjson.dumps({
        "rule": env.rule_id, "entity": env.entity, "local_id": env.local_id,
        "sf_id": env.sf_id, "firing_key": env.cause, "at": env.now.isoformat(),
    }).decode()
    url = str(action.params["url"])
    write = OutboxWrite("Webhook", "notify", {"url": url, "secret_env":
                                              action.params["secret_env"], "body": body},
                        env.cause, entity=env.entity, local_id=env.local_id,
                        meta={"rule": env.rule_id})
    return ActionResult(action.name, "done", f"POST {url}", [write])


def _set_field(env: ActionEnv, action: PlannedAction) -> ActionResult:
    if env.local_id is None:
        raise ActionFailed("set_field needs a record in the store")
    name = str(action.params["field"])
    value = action.params["value"]
    if isinstance(value, datetime) and env.spec.entities[env.entity].fields[name].local_type \
            == "date":
        value = value.date()
    _set_local(env, env.entity, env.local_id, {name: value})
    writes = _update(env, env.entity, env.sf_id, env.local_id, {name: value})
    where = "" if writes else " (local only)"
    return ActionResult(action.name, "done", f"{name} = {value!r}{where}", writes,
                        partner_changed=True)


EXECUTORS: dict[str, Executor] = {
    "approve_registration": _registration,
    "reject_registration": _registration,
    "route_for_review": _registration,
    "set_tier": _set_tier,
    "review_tier": review_tier_without_programs,
    "allocate_mdf": _allocate_mdf,
    "approve_mdf_request": _approve_mdf_request,
    "award_points": _award_points,
    "create_task": _create_task,
    "notify": _notify,
    "set_field": _set_field,
}


# The built-in actions, definition and executor; a runtime's ``RuleEnv`` adds (or replaces,
# as programs does ``review_tier``) its own.
BUILTIN_ACTIONS: dict[str, ActionDef] = {
    name: replace(d, run=EXECUTORS[name]) for name, d in ACTIONS.items()
}


def run_action(
    env: ActionEnv, action: PlannedAction, actions: Mapping[str, ActionDef] | None = None
) -> ActionResult:
    """Carry out ``action`` for ``env``'s record with the executor ``actions`` (default: the
    built-ins) holds; ``ActionFailed`` when it cannot."""
    definition = (actions or BUILTIN_ACTIONS).get(action.name)
    if definition is None or definition.run is None:
        raise ActionFailed(f"{action.name}: no such action in this runtime")
    return definition.run(env, action)


