"""Rows, writes and tier moves shared by the triggers' executors and programs' ladders.

``set_level_now`` moves a partner's tier at once (a ladder between reviews: up only; the
quarterly review: up or down, a few levels at a time); ``apply_tier`` is the move itself:
membership level, tier mirror, the writes that tell Salesforce, a pending downgrade dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, delete, select, update

from connector.outbox.crmform import LocalRecord, build_writes
from connector.outbox.items import OutboxWrite
from connector.partners.actions import ActionEnv, ActionFailed, ActionResult
from connector.store.customer import derived_values
from connector.store.models import entity_table
from connector.store.trigger_log import TriggerPending

__all__ = [
    "PENDING",
    "apply_tier",
    "level_named",
    "membership_of",
    "mirror_tier",
    "partner_row",
    "pending_key",
    "record_row",
    "set_level_now",
    "set_local",
    "update_write",
]

PENDING: Table = TriggerPending.__table__  # type: ignore[attr-defined]


# -- rows and writes -------------------------------------------------------------------------


def record_row(conn: Connection, entity: str, local_id: int | None) -> dict[str, Any]:
    """The store row of a record (``ActionFailed`` when it is not there)."""
    if local_id is None:
        raise ActionFailed(f"the {entity} record has no local id")
    table = entity_table(entity)
    row = conn.execute(select(table).where(table.c.id == local_id)).mappings().first()
    if row is None:
        raise ActionFailed(f"{entity} {local_id} is not in the store")
    return dict(row)


def partner_row(env: ActionEnv) -> dict[str, Any]:
    """The row of the record's partner."""
    if env.partner_id is None:
        raise ActionFailed(f"the {env.entity} record has no partner")
    return record_row(env.conn, "partner", env.partner_id)


def set_local(env: ActionEnv, entity: str, local_id: int, values: dict[str, Any]) -> None:
    """Update a local row (stamped now), with the values derived from it (e.g. a
    registration's customer keys)."""
    table = entity_table(entity)
    derived = derived_values(entity, values)
    env.conn.execute(
        update(table).where(table.c.id == local_id)
        .values(**values, **derived, updated_at=env.now)
    )


def update_write(
    env: ActionEnv, entity: str, sf_id: str | None, local_id: int | None, values: dict[str, Any]
) -> list[OutboxWrite]:
    """An update of the record's sObject with the outbound fields among ``values`` (local
    values, lookups as local ids: the one write builder resolves them); nothing for a record
    Salesforce does not have yet."""
    if not sf_id:
        return []
    writes, _ = build_writes(env.conn, env.spec, [LocalRecord(
        entity, local_id, sf_id, values, env.cause, meta={"rule": env.rule_id})])
    return writes


# -- tiers ------------------------------------------------------------------------------------


def membership_of(conn: Connection, partner_id: int) -> dict[str, Any] | None:
    """The partner's (first) program membership row."""
    member = entity_table("membership")
    row = conn.execute(
        select(member).where(member.c.partner == partner_id, member.c.is_deleted.is_(False))
        .order_by(member.c.id).limit(1)
    ).mappings().first()
    return dict(row) if row else None


def level_named(conn: Connection, name: str, program: int | None) -> dict[str, Any] | None:
    """The level called ``name`` (in ``program`` when given)."""
    level = entity_table("level")
    stmt = select(level).where(level.c.name == name, level.c.is_deleted.is_(False))
    if program is not None:
        stmt = stmt.where(level.c.program == program)
    row = conn.execute(stmt.order_by(level.c.id).limit(1)).mappings().first()
    return dict(row) if row else None


def pending_key(partner_id: int) -> str:
    """The key of a partner's deferred downgrade."""
    return f"tier-downgrade|partner|{partner_id}"


def apply_tier(
    env: ActionEnv, partner: dict[str, Any], member: dict[str, Any] | None,
    level: dict[str, Any],
) -> list[OutboxWrite]:
    """Move the partner to ``level`` (membership and tier mirror) and drop a pending
    downgrade; the writes that tell Salesforce."""
    writes: list[OutboxWrite] = []
    if member is not None:
        set_local(env, "membership", member["id"], {"level": level["id"]})
        if level.get("sf_id"):
            writes += update_write(env, "membership", member.get("sf_id"), member["id"],
                                   {"level": level["id"]})
    writes += mirror_tier(env, partner, level)
    env.conn.execute(delete(PENDING).where(PENDING.c.key == pending_key(partner["id"])))
    return writes


def mirror_tier(
    env: ActionEnv, partner: dict[str, Any], level: dict[str, Any]
) -> list[OutboxWrite]:
    """The partner's tier mirror (``Partner_Tier__c``) set to ``level``'s name when it is not:
    a partner whose level never changes (one at the ladder's bottom) still gets its tier."""
    if partner.get("tier") == level["name"]:
        return []
    set_local(env, "partner", partner["id"], {"tier": level["name"]})
    return update_write(env, "partner", partner.get("sf_id"), partner["id"],
                        {"tier": level["name"]})


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
    partner = partner_row(env)
    member = membership_of(env.conn, partner["id"])
    program = member.get("program") if member else None
    level = level_named(env.conn, wanted, program)
    if level is None:
        raise ActionFailed(f"{name}: no level named '{wanted}' in the partner's program")
    current = None
    if member is not None and member.get("level") is not None:
        current = record_row(env.conn, "level", member["level"])
    elif partner.get("tier"):
        current = level_named(env.conn, str(partner["tier"]), program)
    if current is not None and current["id"] == level["id"]:
        if not only_up:
            env.conn.execute(delete(PENDING).where(PENDING.c.key == pending_key(partner["id"])))
        return ActionResult(name, "skipped", f"stays {wanted}: {why}",
                            mirror_tier(env, partner, level))
    down = current is not None and \
        float(current.get("rank") or 0) >= float(level.get("rank") or 0)
    if only_up and down:
        assert current is not None
        return ActionResult(name, "skipped", f"stays {current['name']} until the review: {why}",
                            mirror_tier(env, partner, current))
    limited = ""
    if down and max_down is not None and current is not None \
            and current.get("rank") is not None and level.get("rank") is not None:
        steps = _levels_below(env, current, level, program)
        if len(steps) > max_down >= 1:
            level = steps[max_down - 1]
            limited = f" (the ladder says {wanted}; at most {max_down} level(s) down a review)"
    writes = apply_tier(env, partner, member, level)
    was = current["name"] if current else "no level"
    return ActionResult(name, "done", f"{was} -> {level['name']}{limited}: {why}", writes,
                        partner_changed=True)

