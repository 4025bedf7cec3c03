"""The validated programs.yaml: segments, programs, tracks, steps, tier ladders, incentives.

Plain frozen dataclasses built once by ``connector.programs.loader``; everything downstream
(evaluation, facts, the CLI) reads these and never the YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

__all__ = [
    "LEVEL_RANKS",
    "PARTNER_TYPES",
    "STEP_KINDS",
    "Criteria",
    "Eligibility",
    "Incentive",
    "Ladder",
    "LadderVariant",
    "ProgramSpec",
    "ProgramsSpec",
    "Segment",
    "Step",
    "StepKind",
    "Track",
]

StepKind = Literal["training", "certification", "task", "milestone"]
STEP_KINDS: tuple[str, ...] = ("training", "certification", "task", "milestone")

#: ChannelProgramLevel names of the default org and their Rank.
LEVEL_RANKS: Mapping[str, int] = {"Registered": 1, "Silver": 2, "Gold": 3, "Platinum": 4}

#: Account.Partner_Type__c picklist values.
PARTNER_TYPES: tuple[str, ...] = (
    "Reseller",
    "Distributor",
    "Referral",
    "Alliance",
    "Service Provider",
    "MSP",
)

@dataclass(frozen=True)
class Segment:
    """A named group of partners: a CEL predicate over ``partner`` facts."""

    name: str
    when: str
    description: str = ""
    program: Any = field(default=None, compare=False, repr=False)  # compiled cel.Program
    refs: frozenset[str] = frozenset()  # the partner facts it reads
    predicate: Any = field(default=None, compare=False, repr=False)  # celexpr.Predicate


@dataclass(frozen=True)
class Step:
    """One step of a track; ``requires`` names steps or whole tracks to complete first."""

    id: str
    track: str
    kind: StepKind
    name: str
    points: int
    requires: tuple[str, ...] = ()
    certification: str | None = None  # Partner_Certification__c Name that completes it


@dataclass(frozen=True)
class Track:
    """An ordered list of steps inside a program, open to some segments or partner types."""

    id: str
    program: str
    name: str
    steps: tuple[Step, ...]
    segments: tuple[str, ...] = ()
    partner_types: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # tracks to complete before any step of this one
    enrol: Literal["auto", "action"] = "auto"
    sequential: bool = False
    next_step_task: bool = True  # a completed step asks the channel manager for the next one

    @property
    def open_to_all(self) -> bool:
        """True when neither segments nor partner types restrict the track."""
        return not self.segments and not self.partner_types


@dataclass(frozen=True)
class Criteria:
    """What a partner needs for one level: fact minimums and tracks completed."""

    level: str
    minimums: Mapping[str, float] = field(default_factory=dict)
    tracks: tuple[str, ...] = ()

    @property
    def rank(self) -> int:
        """The level's ChannelProgramLevel rank."""
        return LEVEL_RANKS[self.level]


@dataclass(frozen=True)
class LadderVariant:
    """A regional or vertical ladder: replaces the criteria of the levels it lists."""

    id: str
    countries: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    levels: tuple[Criteria, ...] = ()

    def matches(self, country: str | None, industry: str | None) -> bool:
        """Whether a partner in ``country``/``industry`` uses this variant."""
        if self.countries and (country or "").strip().casefold() not in self.countries:
            return False
        return not (
            self.industries and (industry or "").strip().casefold() not in self.industries
        )


@dataclass(frozen=True)
class Ladder:
    """A program's tiers, lowest first, with optional variants (first match wins)."""

    levels: tuple[Criteria, ...]
    variants: tuple[LadderVariant, ...] = ()


@dataclass(frozen=True)
class ProgramSpec:
    """A partner program: a ChannelProgram in Salesforce, with tracks and a ladder."""

    id: str
    name: str
    tracks: tuple[Track, ...]
    ladder: Ladder | None = None
    description: str = ""


@dataclass(frozen=True)
class Eligibility:
    """Who may see an incentive: any of the segments, a minimum tier, partner types."""

    segments: tuple[str, ...] = ()
    min_tier: str | None = None
    partner_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Incentive:
    """An MDF fund, rebate or spiff of a program, and who is eligible."""

    id: str
    program: str
    kind: Literal["mdf", "rebate", "spiff"]
    name: str
    amount: float | None = None
    percent: float | None = None
    eligible: Eligibility = field(default_factory=Eligibility)


@dataclass(frozen=True)
class ProgramsSpec:
    """The whole of programs.yaml, validated."""

    segments: Mapping[str, Segment]
    programs: Mapping[str, ProgramSpec]
    incentives: Mapping[str, Incentive]
    file: str = "programs.yaml"
    # the fiscal calendar it runs with: triggers.yaml's settings, set by the runtime's rule
    # environment (connector.service.rules), so segments and ladders count the rules' quarters
    fiscal_year_start_month: int = 1

    @cached_property
    def tracks(self) -> dict[str, Track]:
        """Every track by id, across programs."""
        return {t.id: t for p in self.programs.values() for t in p.tracks}

    @cached_property
    def steps(self) -> dict[str, Step]:
        """Every step by id, across tracks."""
        return {s.id: s for t in self.tracks.values() for s in t.steps}

    def track_of(self, step_id: str) -> Track:
        """The track holding ``step_id``."""
        return self.tracks[self.steps[step_id].track]

    def certification_steps(self, name: str) -> list[Step]:
        """Certification steps completed by a certification called ``name`` (any case)."""
        wanted = name.strip().casefold()
        return [
            s
            for s in self.steps.values()
            if s.kind == "certification" and (s.certification or "").casefold() == wanted
        ]
