"""Programs plugged into the triggers: partner facts, CEL functions and actions.

``install(spec)`` registers, in the triggers' registries (``PARTNER_FACTS``, ``ACTIONS``,
``EXECUTORS``): the facts ``type``, ``country``, ``industry``, ``segments``, ``tracks``,
``tracks_completed``, ``points`` (the ledger balance) and ``certifications_in`` (with the CEL
function ``partner.certifications_in(x)``); the actions ``enroll {track}``,
``complete_step {step}``, ``review_tier`` (the quarterly review: the ladder sets the tier, up or
down), and ``award_points`` writing into the ledger; and the segment names a
rule's ``segment:`` may watch. Called wherever config is loaded (service runtime, CLI), before
triggers.yaml is, so rules are checked against them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from connector.programs.celexpr import CEL_FUNCTIONS, certifications_in, sample_partner
from connector.programs.evaluate import tier_for
from connector.programs.facts import facts_for_partners
from connector.programs.operations import (
    StepBlocked,
    UnknownName,
    award_points,
    complete_step,
    enroll,
    ladder_program,
    writes_for_changes,
)
from connector.programs.spec import ProgramsSpec
from connector.triggers.actions import (
    EXECUTORS,
    ActionEnv,
    ActionFailed,
    ActionResult,
    review_tier_without_programs,
    set_level_now,
)
from connector.triggers.catalogue import ACTIONS, ActionDef, _Params
from connector.triggers.engine import PlannedAction
from connector.triggers.facts import PARTNER_FACTS, FactEnv, FactRegistry

__all__ = ["CompleteStep", "Enroll", "install"]


class Enroll(_Params):
    """``enroll: {track: cloud-technical}``: enrol the record's partner in a track."""

    track: str


class CompleteStep(_Params):
    """``complete_step: {step: cloud-architect}``: complete a step (prerequisites enforced)."""

    step: str


def _fact(spec: ProgramsSpec | None, name: str, needed: set[str]) -> Any:
    def compute(conn: Connection, partner_id: int, env: FactEnv) -> Any:
        got = facts_for_partners(conn, spec, env.now.date(), [partner_id],
                                 fiscal_year_start_month=env.fiscal_year_start_month,
                                 needed=needed)
        f = got.get(partner_id) or {}
        if name == "certifications_in":
            return {"track_certifications": f.get("track_certifications") or {},
                    "certification_names": f.get("certification_names") or []}
        if name == "points":
            return float(f.get("points") or 0)
        return f.get(name)

    return compute


def install(spec: ProgramsSpec | None, registry: FactRegistry = PARTNER_FACTS) -> None:
    """Register the programs' facts, function and actions (again: replaces the last ones)."""
    sample = sample_partner(tuple(spec.tracks) if spec else ())
    for name, type_, needed, desc in (
        ("type", "str", {"type"}, "Partner_Type__c"),
        ("country", "str", {"country"}, "BillingCountry"),
        ("industry", "str", {"industry"}, "Industry"),
        ("segments", "list", {"segments"}, "segments the partner is in (programs.yaml)"),
        ("points", "float", {"points"}, "points balance: the sum of the partner's ledger"),
        ("tracks", "map", {"tracks"}, "track id -> {status, completed_steps, percent, ...}"),
        ("tracks_completed", "int", {"tracks_completed"}, "tracks completed"),
        ("certifications_in", "map", {"certification_names", "track_certifications"},
         "partner.certifications_in(track or name)"),
    ):
        fact_sample: Any = sample.get(name)
        if name == "certifications_in":
            fact_sample = {"track_certifications": sample["track_certifications"],
                           "certification_names": []}
        elif name == "segments":
            fact_sample = ["sample"]
        elif name == "points":
            fact_sample = 1.0
        registry.register(name, type_, desc, sample=fact_sample)(_fact(spec, name, needed))
    registry.functions.update(CEL_FUNCTIONS)
    registry.functions["certifications_in"] = certifications_in
    registry.segments = frozenset(spec.segments) if spec is not None else None
    EXECUTORS["award_points"] = _award_points
    if spec is None:
        EXECUTORS["review_tier"] = review_tier_without_programs
        return
    ACTIONS["enroll"] = ActionDef("enroll", Enroll)
    ACTIONS["complete_step"] = ActionDef("complete_step", CompleteStep)
    EXECUTORS["enroll"] = lambda env, action: _enroll(spec, env, action)
    EXECUTORS["complete_step"] = lambda env, action: _complete_step(spec, env, action)
    EXECUTORS["review_tier"] = lambda env, action: _review_tier(spec, env, action)


def _partner_id(env: ActionEnv, action: str) -> int:
    if env.partner_id is None:
        raise ActionFailed(f"{action}: the {env.entity} record has no partner")
    return env.partner_id


def _enroll(spec: ProgramsSpec, env: ActionEnv, action: PlannedAction) -> ActionResult:
    track = str(action.params["track"])
    try:
        added = enroll(env.conn, spec, _partner_id(env, "enroll"), track, source="action",
                       cause=env.cause, now=env.now)
    except UnknownName as err:
        raise ActionFailed(f"enroll: {err}") from None
    return ActionResult("enroll", "done" if added else "skipped",
                        f"enrolled in {track}" if added else f"already enrolled in {track}",
                        partner_changed=added)


def _complete_step(spec: ProgramsSpec, env: ActionEnv, action: PlannedAction) -> ActionResult:
    step = str(action.params["step"])
    try:
        out = complete_step(env.conn, spec, _partner_id(env, "complete_step"), step,
                            source="action", cause=env.cause, now=env.now)
    except (UnknownName, StepBlocked) as err:
        raise ActionFailed(f"complete_step: {err}") from None
    writes = writes_for_changes(env.conn, env.spec, out.changes, env.cause)
    return ActionResult("complete_step", "done" if out.done else "skipped", out.detail, writes,
                        partner_changed=out.done)


def _award_points(env: ActionEnv, action: PlannedAction) -> ActionResult:
    points = round(float(action.params["points"]))
    reason = str(action.params.get("reason") or "")
    # the firing key makes the award once: a replayed batch adds nothing to the ledger
    out = award_points(env.conn, _partner_id(env, "award_points"), points,
                       reason=reason or f"rule {env.rule_id}", cause=env.cause, now=env.now,
                       award_key=f"{env.cause}|award_points|{points}|{reason}")
    writes = writes_for_changes(env.conn, env.spec, out.changes, env.cause)
    return ActionResult("award_points", "done" if out.done else "skipped", out.detail, writes,
                        partner_changed=out.done)


def _review_tier(spec: ProgramsSpec, env: ActionEnv, action: PlannedAction) -> ActionResult:
    """The partner's ladder (its region/vertical variant) sets its tier now, up or down."""
    pid = _partner_id(env, "review_tier")
    wanted = action.params.get("program")
    if wanted is not None:
        program = spec.programs.get(str(wanted))
        if program is None:
            raise ActionFailed(f"review_tier: no program '{wanted}' in programs.yaml "
                               f"(known: {', '.join(spec.programs)})")
    else:
        program = ladder_program(env.conn, spec, pid)
    if program is None or program.ladder is None:
        return ActionResult("review_tier", "skipped", "no program with a tier ladder")
    facts = facts_for_partners(env.conn, spec, env.now.date(), [pid],
                               fiscal_year_start_month=env.settings.fiscal_year_start_month)
    if pid not in facts:
        raise ActionFailed(f"review_tier: no partner with local id {pid}")
    tier = tier_for(program.ladder, facts[pid])
    reason = str(action.params.get("reason") or "quarterly tier review")
    if tier.level is None:
        return ActionResult("review_tier", "skipped", f"{reason}: {tier.why()}")
    max_down = action.params.get("max_levels_down", 1)
    return set_level_now(env, tier.level, f"{reason}: {tier.why()}", "review_tier",
                         max_down=None if max_down is None else int(max_down))
