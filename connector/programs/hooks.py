"""What programs adds to a runtime's rule environment, returned (not registered).

``extension(spec)`` returns an ``Extension`` (``connector.partners.env``): programs' track
facts (``tracks``, ``tracks_completed``, ``track_certifications``: what
``partner.certifications_in(x)`` reads by track); the segment names a rule's ``segment:`` may
watch; and, with programs.yaml, the actions ``enroll {track}``, ``complete_step {step}`` and
``review_tier`` (the quarterly review: the ladder sets the tier, up or down). The service
layer builds the environment once per runtime (``connector.service.rules``); nothing here
touches another package's registry, so a runtime without programs.yaml, or one loaded after
it changed, never sees a stale spec.
"""

from __future__ import annotations

from connector.partners.actions import (
    ActionDef,
    ActionEnv,
    ActionFailed,
    ActionResult,
    Params,
    PlannedAction,
    ReviewTier,
)
from connector.partners.env import Extension
from connector.partners.tiers import set_level_now
from connector.programs.evaluate import tier_for
from connector.programs.facts import facts_for_partners, track_group
from connector.programs.operations import (
    StepBlocked,
    UnknownName,
    complete_step,
    enroll,
    ladder_program,
    writes_for_changes,
)
from connector.programs.spec import ProgramsSpec

__all__ = ["CompleteStep", "Enroll", "extension"]


class Enroll(Params):
    """``enroll: {track: cloud-technical}``: enrol the record's partner in a track."""

    track: str


class CompleteStep(Params):
    """``complete_step: {step: cloud-architect}``: complete a step (prerequisites enforced)."""

    step: str


def extension(spec: ProgramsSpec | None) -> Extension:
    """Programs' facts, segment names and actions for a rule environment."""
    if spec is None:
        return Extension(facts=(track_group(None),))
    actions = {
        "enroll": ActionDef("enroll", Enroll, run=lambda env, a: _enroll(spec, env, a)),
        "complete_step": ActionDef("complete_step", CompleteStep,
                                   run=lambda env, a: _complete_step(spec, env, a)),
        "review_tier": ActionDef("review_tier", ReviewTier, entities=("partner",),
                                 run=lambda env, a: _review_tier(spec, env, a)),
    }
    return Extension(facts=(track_group(spec),), actions=actions,
                     segments=frozenset(spec.segments))


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
