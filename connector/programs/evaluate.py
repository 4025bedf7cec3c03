"""Pure evaluation of programs over partner facts: no I/O, no clock, no database.

Segments a partner is in, progress on a track, whether a step may be completed now (and why
not), the tier a ladder gives, and the incentives a partner may see.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.programs.celexpr import evaluate_predicate
from connector.programs.spec import (
    LEVEL_RANKS,
    Criteria,
    Incentive,
    Ladder,
    ProgramsSpec,
    Track,
)

__all__ = [
    "Eligibility",
    "LevelCheck",
    "TierResult",
    "TrackProgress",
    "blocked_reason",
    "eligible_incentives",
    "is_open_to",
    "rank_of",
    "segments_for",
    "tier_for",
    "track_progress",
]


def segments_for(
    spec: ProgramsSpec, partner: Mapping[str, Any], names: Collection[str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The segments ``partner`` belongs to, and per segment any evaluation error.

    A segment whose predicate fails for this partner (a null country, say) does not hold it;
    the error is returned so a caller can show it rather than hide it.
    """
    inside: list[str] = []
    errors: dict[str, str] = {}
    for name, seg in spec.segments.items():
        if names is not None and name not in names:
            continue
        try:
            pred = seg.predicate
            inside_now = (evaluate_predicate(pred.program, pred.inputs(partner))
                          if pred is not None else
                          evaluate_predicate(seg.program, {k: partner.get(k) for k in seg.refs}))
            if inside_now:
                inside.append(name)
        except Exception as err:  # a CEL runtime error for this partner's values
            errors[name] = str(err).split("\n", 1)[0]
    return inside, errors


@dataclass(frozen=True)
class TrackProgress:
    """Where a partner is on a track."""

    track: str
    status: str  # not_enrolled | enrolled | in_progress | completed
    completed_steps: tuple[str, ...]
    percent: float
    certifications: int
    next_step: str | None = None
    blocked: str | None = None  # why the next step cannot be done yet

    @property
    def completed(self) -> bool:
        """All steps done."""
        return self.status == "completed"

    def as_fact(self) -> dict[str, Any]:
        """The shape CEL sees under ``partner.tracks[id]``."""
        return {
            "status": self.status,
            "completed_steps": list(self.completed_steps),
            "percent": self.percent,
            "certifications": self.certifications,
            "completed": self.completed,
        }


def track_progress(
    spec: ProgramsSpec, track: Track, done: Collection[str], *, enrolled: bool
) -> TrackProgress:
    """Progress on ``track`` given every step id the partner has completed (any track)."""
    completed = tuple(s.id for s in track.steps if s.id in done)
    total = len(track.steps)
    percent = round(100.0 * len(completed) / total, 1) if total else 100.0
    certs = sum(1 for s in track.steps if s.id in done and s.kind == "certification")
    if total and len(completed) == total:
        status = "completed"
    elif completed:
        status = "in_progress"
    else:
        status = "enrolled" if enrolled else "not_enrolled"
    nxt = next((s.id for s in track.steps if s.id not in done), None)
    blocked = blocked_reason(spec, nxt, done) if nxt else None
    return TrackProgress(track.id, status, completed, percent, certs, nxt, blocked)


def _track_done(track: Track, done: Collection[str]) -> bool:
    return all(s.id in done for s in track.steps)


def blocked_reason(spec: ProgramsSpec, step_id: str, done: Collection[str]) -> str | None:
    """Why ``step_id`` cannot be completed yet (None when every prerequisite is met)."""
    step = spec.steps[step_id]
    track = spec.tracks[step.track]
    missing: list[str] = []
    for req in track.requires:
        t = spec.tracks[req]
        if not _track_done(t, done):
            left = sum(1 for s in t.steps if s.id not in done)
            missing.append(f"track '{req}' ({t.name}) must be complete first ({left} step(s) left)")
    if track.sequential:
        idx = [s.id for s in track.steps].index(step_id)
        if idx and track.steps[idx - 1].id not in done:
            prev = track.steps[idx - 1]
            missing.append(f"step '{prev.id}' ({prev.name}) comes first in this track")
    for req in step.requires:
        if req in spec.tracks:
            t = spec.tracks[req]
            if not _track_done(t, done):
                missing.append(f"track '{req}' ({t.name}) must be complete first")
        elif req not in done:
            s = spec.steps[req]
            missing.append(f"step '{req}' ({s.name}) must be completed first")
    return "; ".join(missing) if missing else None


def is_open_to(track: Track, partner: Mapping[str, Any]) -> bool:
    """Whether ``partner`` may enrol in ``track`` (its type or one of its segments)."""
    if track.open_to_all:
        return True
    if partner.get("type") in track.partner_types:
        return True
    return bool(set(track.segments) & set(partner.get("segments") or ()))


@dataclass(frozen=True)
class LevelCheck:
    """One level of a ladder against a partner: met, or what is missing."""

    level: str
    met: bool
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class TierResult:
    """The level a ladder gives a partner, which variant applied, and each level's check."""

    level: str | None
    rank: float
    variant: str | None
    checks: tuple[LevelCheck, ...] = ()

    def why(self) -> str:
        """One line: the level and, for the next one up, what is missing."""
        where = f" ({self.variant} ladder)" if self.variant else ""
        head = f"{self.level or 'no level'}{where}"
        # checks run lowest level first (the loader checks that order): every check after
        # the level given is one above it, not met
        names = [c.level for c in self.checks]
        above = self.checks[names.index(self.level) + 1:] if self.level in names \
            else [c for c in self.checks if not c.met]
        if above:
            return f"{head}; {above[0].level} needs {', '.join(above[0].missing)}"
        return f"{head}; top of the ladder" if self.level else head


def _check(crit: Criteria, partner: Mapping[str, Any]) -> LevelCheck:
    missing: list[str] = []
    for fact, minimum in crit.minimums.items():
        have = float(partner.get(fact) or 0)
        if have < minimum:
            missing.append(f"{fact} >= {minimum:g} (has {have:g})")
    tracks = partner.get("tracks") or {}
    for tid in crit.tracks:
        if not (tracks.get(tid) or {}).get("completed"):
            missing.append(f"track {tid} completed")
    return LevelCheck(crit.level, not missing, tuple(missing))


def rank_of(level: str, ranks: Mapping[str, float] | None = None) -> float:
    """``level``'s rank: from ``ranks`` (the store's level table, ``level_ranks``) when it is
    known, else the default org's ``LEVEL_RANKS`` (a store whose levels are not synced yet)."""
    table: Mapping[str, float] = ranks if ranks else LEVEL_RANKS
    return float(table.get(level, 0))


def tier_for(
    ladder: Ladder, partner: Mapping[str, Any], ranks: Mapping[str, float] | None = None
) -> TierResult:
    """The highest level whose criteria ``partner`` meets, using the first matching variant;
    ``ranks``: the level table's (``level_ranks``)."""
    variant = next(
        (v for v in ladder.variants if v.matches(partner.get("country"), partner.get("industry"))),
        None,
    )
    overrides = {c.level: c for c in variant.levels} if variant else {}
    checks = tuple(_check(overrides.get(c.level, c), partner) for c in ladder.levels)
    level: str | None = None
    for chk in checks:
        if chk.met:
            level = chk.level
    rank = rank_of(level, ranks) if level else 0.0
    return TierResult(level, rank, variant.id if variant else None, checks)


@dataclass(frozen=True)
class Eligibility:
    """An incentive and whether a partner may see it, with the reason either way."""

    incentive: Incentive
    eligible: bool
    why: str
    reasons: tuple[str, ...] = field(default=())


def eligible_incentives(
    spec: ProgramsSpec, partner: Mapping[str, Any], tiers: Mapping[str, TierResult],
    ranks: Mapping[str, float] | None = None,
) -> list[Eligibility]:
    """Every incentive with whether ``partner`` is eligible (tiers: program id -> result;
    ``ranks``: the level table's, which ``min_tier`` is compared by)."""
    segments = set(partner.get("segments") or ())
    out: list[Eligibility] = []
    for inc in spec.incentives.values():
        rule = inc.eligible
        missing: list[str] = []
        met: list[str] = []
        if rule.segments:
            hit = sorted(segments & set(rule.segments))
            if hit:
                met.append(f"in segment {hit[0]}")
            else:
                missing.append(f"in none of the segments {', '.join(rule.segments)}")
        if rule.partner_types:
            if partner.get("type") in rule.partner_types:
                met.append(f"type {partner.get('type')}")
            else:
                wanted = "/".join(rule.partner_types)
                missing.append(f"type is {partner.get('type')!r}, not {wanted}")
        if rule.min_tier:
            tier = tiers.get(inc.program)
            rank = tier.rank if tier else 0.0
            if tier is not None and tier.level and rank >= rank_of(rule.min_tier, ranks):
                met.append(f"tier {tier.level if tier else None} >= {rule.min_tier}")
            else:
                have = tier.level if tier else None
                missing.append(f"tier {have or 'none'} is below {rule.min_tier}")
        ok = not missing
        why = "; ".join(met if ok else missing) or "open to every partner"
        out.append(Eligibility(inc, ok, why, tuple(met if ok else missing)))
    return out
