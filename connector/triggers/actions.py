"""Action executors: each changes local rows and returns the outbox writes it wants queued.

Every executor runs inside the consumer's transaction and never calls Salesforce: the caller
queues the returned ``OutboxWrite``s with ``enqueue`` in the same transaction. Salesforce
targets follow the default org (docs/model.md); field names come from mapping.yaml's
``to_crm``, so a field the mapping does not write out is changed locally only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Table, delete, select, update

from connector.errors import SkippableError
from connector.mapping.spec import MappingSpec
from connector.outbox.crmform import LocalRecord, build_writes
from connector.outbox.items import OutboxWrite
from connector.store.bookkeeping import TriggerFiring
from connector.store.customer import derived_values
from connector.store.models import entity_table
from connector.store.sqlutil import upsert_stmt
from connector.store.trigger_log import TriggerPending
from connector.triggers.engine import PlannedAction
from connector.triggers.fiscal import quarter_of
from connector.triggers.spec import TriggerSettings

__all__ = [
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
PENDING: Table = TriggerPending.__table__  # type: ignore[attr-defined]
REGISTRATION_STATUS = {
    "approve_registration": "Approved",
    "reject_registration": "Rejected",
    "route_for_review": "Pending Review",
}


class ActionFailed(SkippableError):
    """An action that cannot be carried out for this record (recorded; the others go on)."""


@dataclass
class ActionEnv:
    """What an action runs against: the transaction, the mapping, the clock, the cause."""

    conn: Connection
    spec: MappingSpec
    settings: TriggerSettings
    now: datetime
    rule_id: str
    entity: str
    local_id: int | None
    sf_id: str | None
    record: dict[str, Any]
    cause: str  # the firing key: fixes the outbox ids

    @property
    def partner_id(self) -> int | None:
        """The local id of the record's partner."""
        if self.entity == "partner":
            return self.local_id
        value = self.record.get("partner")
        return int(value) if isinstance(value, int) else None


@dataclass
class ActionResult:
    """What an action did: a short detail for the audit, its writes, the partner it changed."""

    action: str
    status: str  # done | skipped | pending
    detail: str
    writes: list[OutboxWrite] = field(default_factory=list)
    partner_changed: bool = False

    def summary(self) -> dict[str, Any]:
        """JSON-ready, for the audit."""
        return {"action": self.action, "status": self.status, "detail": self.detail}


def _row(conn: Connection, entity: str, local_id: int | None) -> dict[str, Any]:
    if local_id is None:
        raise ActionFailed(f"the {entity} record has no local id")
    table = entity_table(entity)
    row = conn.execute(select(table).where(table.c.id == local_id)).mappings().first()
    if row is None:
        raise ActionFailed(f"{entity} {local_id} is not in the store")
    return dict(row)


def _partner(env: ActionEnv) -> dict[str, Any]:
    if env.partner_id is None:
        raise ActionFailed(f"the {env.entity} record has no partner")
    return _row(env.conn, "partner", env.partner_id)


def _set_local(env: ActionEnv, entity: str, local_id: int, values: dict[str, Any]) -> None:
    table = entity_table(entity)
    derived = derived_values(entity, values)  # e.g. a registration's customer keys
    env.conn.execute(
        update(table).where(table.c.id == local_id)
        .values(**values, **derived, updated_at=env.now)
    )


def _update(
    env: ActionEnv, entity: str, sf_id: str | None, local_id: int | None, values: dict[str, Any]
) -> list[OutboxWrite]:
    """An update of the record's sObject with the outbound fields among ``values`` (local
    values, lookups as local ids); nothing for a record Salesforce does not have yet."""
    if not sf_id:
        return []
    writes, _ = build_writes(env.conn, env.spec, [LocalRecord(
        entity, local_id, sf_id, values, env.cause, meta={"rule": env.rule_id})])
    return writes


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
                        partner_changed=True)


# -- tiers ------------------------------------------------------------------------------------


def _membership(env: ActionEnv, partner_id: int) -> dict[str, Any] | None:
    member = entity_table("membership")
    row = env.conn.execute(
        select(member).where(member.c.partner == partner_id, member.c.is_deleted.is_(False))
        .order_by(member.c.id).limit(1)
    ).mappings().first()
    return dict(row) if row else None


def _level_named(env: ActionEnv, name: str, program: int | None) -> dict[str, Any] | None:
    level = entity_table("level")
    stmt = select(level).where(level.c.name == name, level.c.is_deleted.is_(False))
    if program is not None:
        stmt = stmt.where(level.c.program == program)
    row = env.conn.execute(stmt.order_by(level.c.id).limit(1)).mappings().first()
    return dict(row) if row else None


def _apply_tier(
    env: ActionEnv, partner: dict[str, Any], member: dict[str, Any] | None,
    level: dict[str, Any],
) -> list[OutboxWrite]:
    writes: list[OutboxWrite] = []
    if member is not None:
        _set_local(env, "membership", member["id"], {"level": level["id"]})
        if level.get("sf_id"):
            writes += _update(env, "membership", member.get("sf_id"), member["id"],
                              {"level": level["id"]})
    writes += _mirror_tier(env, partner, level)
    env.conn.execute(delete(PENDING).where(PENDING.c.key == _pending_key(partner["id"])))
    return writes


def _mirror_tier(
    env: ActionEnv, partner: dict[str, Any], level: dict[str, Any]
) -> list[OutboxWrite]:
    """The partner's tier mirror (``Partner_Tier__c``) set to ``level``'s name when it is not:
    a partner whose level never changes (one at the ladder's bottom) still gets its tier."""
    if partner.get("tier") == level["name"]:
        return []
    _set_local(env, "partner", partner["id"], {"tier": level["name"]})
    return _update(env, "partner", partner.get("sf_id"), partner["id"], {"tier": level["name"]})


def _pending_key(partner_id: int) -> str:
    return f"tier-downgrade|partner|{partner_id}"


def _set_tier(env: ActionEnv, action: PlannedAction) -> ActionResult:
    partner = _partner(env)
    member = _membership(env, partner["id"])
    wanted = str(action.params["level"])
    level = _level_named(env, wanted, member.get("program") if member else None)
    if level is None:
        raise ActionFailed(f"set_tier: no level named '{wanted}' in the partner's program")
    current = None
    if member is not None and member.get("level") is not None:
        current = _row(env.conn, "level", member["level"])
    if current is not None and current["id"] == level["id"]:
        env.conn.execute(delete(PENDING).where(PENDING.c.key == _pending_key(partner["id"])))
        return ActionResult(action.name, "skipped", f"already {wanted}")
    if current is not None and float(current.get("rank") or 0) > float(level.get("rank") or 0):
        due = env.now + timedelta(days=env.settings.downgrade_grace_days)
        stmt = upsert_stmt(env.conn, PENDING).values(
            key=_pending_key(partner["id"]), kind="set_tier", entity="partner",
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
    writes = _apply_tier(env, partner, member, level)
    was = current["name"] if current else "no level"
    return ActionResult(action.name, "done", f"{was} -> {wanted}", writes, partner_changed=True)


def _levels_below(
    env: ActionEnv, current: dict[str, Any], down_to: dict[str, Any], program: int | None
) -> list[dict[str, Any]]:
    """The program's levels ranked below ``current`` and at or above ``down_to``, highest
    first: the steps a downgrade from ``current`` to ``down_to`` passes."""
    level = entity_table("level")
    stmt = select(level).where(level.c.is_deleted.is_(False),
                               level.c.rank < current.get("rank"),
                               level.c.rank >= down_to.get("rank"))
    if program is not None:
        stmt = stmt.where(level.c.program == program)
    rows = env.conn.execute(stmt.order_by(level.c.rank.desc(), level.c.id)).mappings().all()
    return [dict(r) for r in rows]


def set_level_now(
    env: ActionEnv, wanted: str, why: str, name: str = "set_tier", *, only_up: bool = False,
    max_down: int | None = None,
) -> ActionResult:
    """Set the partner's tier to ``wanted`` at once, with no grace period: up or down (the
    quarterly tier review's verdict), or with ``only_up`` up only (a ladder between reviews).
    With ``max_down`` a downgrade passes at most that many levels (by rank) at a time.
    The current tier is the membership's level, else the level named by the partner's tier
    mirror. A pending downgrade is replaced. ``why`` is the detail."""
    partner = _partner(env)
    member = _membership(env, partner["id"])
    program = member.get("program") if member else None
    level = _level_named(env, wanted, program)
    if level is None:
        raise ActionFailed(f"{name}: no level named '{wanted}' in the partner's program")
    current = None
    if member is not None and member.get("level") is not None:
        current = _row(env.conn, "level", member["level"])
    elif partner.get("tier"):
        current = _level_named(env, str(partner["tier"]), program)
    if current is not None and current["id"] == level["id"]:
        if not only_up:
            env.conn.execute(delete(PENDING).where(PENDING.c.key == _pending_key(partner["id"])))
        return ActionResult(name, "skipped", f"stays {wanted}: {why}",
                            _mirror_tier(env, partner, level))
    down = current is not None and \
        float(current.get("rank") or 0) >= float(level.get("rank") or 0)
    if only_up and down:
        assert current is not None
        return ActionResult(name, "skipped", f"stays {current['name']} until the review: {why}",
                            _mirror_tier(env, partner, current))
    limited = ""
    if down and max_down is not None and current is not None \
            and current.get("rank") is not None and level.get("rank") is not None:
        steps = _levels_below(env, current, level, program)
        if len(steps) > max_down >= 1:
            level = steps[max_down - 1]
            limited = f" (the ladder says {wanted}; at most {max_down} level(s) down a review)"
    writes = _apply_tier(env, partner, member, level)
    was = current["name"] if current else "no level"
    return ActionResult(name, "done", f"{was} -> {level['name']}{limited}: {why}", writes,
                        partner_changed=True)


def review_tier_without_programs(env: ActionEnv, action: PlannedAction) -> ActionResult:
    """Without programs.yaml there is no ladder to review against (programs replaces this)."""
    return ActionResult(action.name, "skipped", "no programs.yaml: no tier ladder to review")


def apply_due_pending(
    conn: Connection, spec: MappingSpec, settings: TriggerSettings, now: datetime
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
        member = _membership(env, partner["id"])
        level = _row(conn, "level", int(payload["level_id"]))
        writes = _apply_tier(env, partner, member, level)
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
    partner = _partner(env)
    points = float(action.params["points"])
    balance = float(partner.get("points") or 0) + points
    _set_local(env, "partner", partner["id"], {"points": balance})
    writes = _update(env, "partner", partner.get("sf_id"), partner["id"], {"points": balance})
    reason = str(action.params.get("reason") or "")
    return ActionResult(action.name, "done", f"+{points:g} -> {balance:g} {reason}".strip(),
                        writes, partner_changed=True)


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


Executor = Callable[[ActionEnv, PlannedAction], ActionResult]
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


def run_action(env: ActionEnv, action: PlannedAction) -> ActionResult:
    """Carry out ``action`` for ``env``'s record; ``ActionFailed`` when it cannot."""
    return EXECUTORS[action.name](env, action)


