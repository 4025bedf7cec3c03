"""Load programs.yaml into a ``ProgramsSpec``: shape, references, prerequisite cycles, CEL.

Every problem in the file is collected and raised together as one ``ConfigError``, each at
file:line:col, so a channel-ops person fixes the whole file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import ConfigError, ConfigProblem
from connector.mapping.names import did_you_mean
from connector.partners.cel import located_problem
from connector.programs.celexpr import (
    CelCheckError,
    compile_predicate,
    evaluate_predicate,
    prepare_predicate,
    referenced_facts,
    sample_partner,
)
from connector.programs.spec import (
    LEVEL_RANKS,
    PARTNER_TYPES,
    Criteria,
    Eligibility,
    Incentive,
    Ladder,
    LadderVariant,
    ProgramSpec,
    ProgramsSpec,
    Segment,
    Step,
    StepKind,
    Track,
)
from connector.yamlconf import Located, load, loads, problems_from_validation

__all__ = ["load_programs", "loads_programs"]

PathKey = tuple[str | int, ...]
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RawSegment(_Strict):
    when: str
    description: str = ""


class _RawStep(_Strict):
    id: str
    kind: StepKind
    name: str | None = None
    points: int = Field(default=0, ge=0)
    requires: list[str] = Field(default_factory=list)
    certification: str | None = None


class _RawOpenTo(_Strict):
    segments: list[str] = Field(default_factory=list)
    partner_types: list[str] = Field(default_factory=list)


class _RawTrack(_Strict):
    name: str | None = None
    open_to: _RawOpenTo = Field(default_factory=_RawOpenTo)
    requires: list[str] = Field(default_factory=list)
    enrol: Literal["auto", "action"] = "auto"
    sequential: bool = False
    next_step_task: bool = True
    steps: list[_RawStep] = Field(min_length=1)


class _RawCriteria(_Strict):
    min: dict[str, float] = Field(default_factory=dict)
    tracks: list[str] = Field(default_factory=list)


class _RawVariant(_Strict):
    countries: list[str] = Field(default_factory=list)
    industries: list[str] = Field(default_factory=list)
    levels: dict[str, _RawCriteria | None]


class _RawLadder(_Strict):
    levels: dict[str, _RawCriteria | None]
    variants: dict[str, _RawVariant] = Field(default_factory=dict)


class _RawProgram(_Strict):
    name: str
    description: str = ""
    tracks: dict[str, _RawTrack] = Field(default_factory=dict)
    ladder: _RawLadder | None = None


class _RawEligible(_Strict):
    segments: list[str] = Field(default_factory=list)
    min_tier: str | None = None
    partner_types: list[str] = Field(default_factory=list)


class _RawIncentive(_Strict):
    program: str
    kind: Literal["mdf", "rebate", "spiff"]
    name: str
    amount: float | None = Field(default=None, gt=0)
    percent: float | None = Field(default=None, gt=0, le=100)
    eligible: _RawEligible = Field(default_factory=_RawEligible)


class _RawFile(_Strict):
    version: Literal[1] = 1
    segments: dict[str, _RawSegment] = Field(default_factory=dict)
    programs: dict[str, _RawProgram] = Field(default_factory=dict)
    incentives: dict[str, _RawIncentive] = Field(default_factory=dict)


def load_programs(path: str | Path) -> ProgramsSpec:
    """Read and validate programs.yaml; every problem raises together as one ``ConfigError``."""
    return _build(load(path), lambda: Path(path).read_text("utf-8"))


def loads_programs(text: str, file: str = "programs.yaml") -> ProgramsSpec:
    """``load_programs`` for YAML text (tests, previews)."""
    return _build(loads(text, file), lambda: text)


def _build(loc: Located, text: Callable[[], str] | None = None) -> ProgramsSpec:
    if not isinstance(loc.data, dict):
        raise ConfigError([loc.problem((), (
            "programs.yaml must be a mapping with 'segments:', 'programs:' and 'incentives:'"
        ))])
    try:
        raw = _RawFile.model_validate(loc.data)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(err, loc, _RawFile)) from None
    checker = _Checker(loc, text)
    spec = checker.build(raw)
    if checker.problems:
        raise ConfigError(sorted(checker.problems, key=lambda p: (p.line, p.column)))
    return spec


class _Checker:
    """Cross-reference checks on a shape-valid file; collects located problems."""

    def __init__(self, loc: Located, text: Callable[[], str] | None = None) -> None:
        self.loc = loc
        self.problems: list[ConfigProblem] = []
        self._text = text

    def add_cel(self, path: PathKey, what: str, err: CelCheckError) -> None:
        """A CEL problem at its place in the file (the expression's position in its value)."""
        self.problems.append(located_problem(self.loc, path, what, err, self._text))

    def add(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.loc.problem(path, message, key=key))

    def check_id(self, value: str, what: str, path: PathKey, *, key: bool = False) -> None:
        if not _ID.match(value):
            self.add(path, (
                f"{what} id '{value}' must be lower-case letters, digits, '-' and '_' "
                "(it is part of keys stored in the database)"
            ), key=key)

    def known(
        self, value: str, options: Iterable[str], what: str, path: PathKey
    ) -> bool:
        opts = list(options)
        if value in opts:
            return True
        listed = ", ".join(opts) if opts else "none defined"
        self.add(path, f"unknown {what} '{value}'{did_you_mean(value, opts)} (known: {listed})")
        return False

    # -- sections ---------------------------------------------------------------------------

    def build(self, raw: _RawFile) -> ProgramsSpec:
        track_ids = [t for p in raw.programs.values() for t in p.tracks]
        segments = self.segments(raw, track_ids)
        programs = {pid: self.program(pid, p, raw, segments) for pid, p in raw.programs.items()}
        self.unique_ids(raw)
        spec_wo_incentives = ProgramsSpec(segments, programs, {}, self.loc.file)
        self.cycles(spec_wo_incentives)
        incentives = {
            iid: self.incentive(iid, inc, programs, segments)
            for iid, inc in raw.incentives.items()
        }
        return ProgramsSpec(segments, programs, incentives, self.loc.file)

    def segments(self, raw: _RawFile, track_ids: list[str]) -> dict[str, Segment]:
        out: dict[str, Segment] = {}
        sample = sample_partner(track_ids)
        for name, seg in raw.segments.items():
            path: PathKey = ("segments", name)
            self.check_id(name, "segment", path, key=True)
            try:
                program = compile_predicate(seg.when)
                evaluate_predicate(program, sample)
            except CelCheckError as err:
                self.add_cel((*path, "when"), f"segments.{name}.when", err)
                continue
            except Exception as err:  # CEL runtime errors (types, missing keys) at load time
                self.add((*path, "when"), f"segments.{name}.when: {_cel_runtime(err)}")
                continue
            out[name] = Segment(name, seg.when.strip(), seg.description, program,
                                referenced_facts(seg.when), prepare_predicate(seg.when))
        return out

    def program(
        self, pid: str, raw: _RawProgram, top: _RawFile, segments: dict[str, Segment]
    ) -> ProgramSpec:
        base: PathKey = ("programs", pid)
        self.check_id(pid, "program", base, key=True)
        all_tracks = {t for p in top.programs.values() for t in p.tracks}
        all_steps = {s.id for p in top.programs.values() for t in p.tracks.values()
                     for s in t.steps}
        tracks = []
        for tid, t in raw.tracks.items():
            tpath: PathKey = (*base, "tracks", tid)
            self.check_id(tid, "track", tpath, key=True)
            for i, seg in enumerate(t.open_to.segments):
                self.known(seg, top.segments, "segment", (*tpath, "open_to", "segments", i))
            for i, ptype in enumerate(t.open_to.partner_types):
                self.known(ptype, PARTNER_TYPES, "partner type",
                           (*tpath, "open_to", "partner_types", i))
            for i, req in enumerate(t.requires):
                if req == tid:
                    self.add((*tpath, "requires", i), f"track '{tid}' cannot require itself")
                else:
                    self.known(req, all_tracks, "track", (*tpath, "requires", i))
            steps = []
            for i, s in enumerate(t.steps):
                spath: PathKey = (*tpath, "steps", i)
                self.check_id(s.id, "step", (*spath, "id"))
                if s.certification and s.kind != "certification":
                    self.add((*spath, "certification"), (
                        f"step '{s.id}' is a {s.kind}: only certification steps name a "
                        "certification"
                    ))
                for j, req in enumerate(s.requires):
                    if req == s.id:
                        self.add((*spath, "requires", j), f"step '{s.id}' cannot require itself")
                    elif req not in all_steps and req not in all_tracks:
                        opts = sorted(all_steps | all_tracks)
                        self.add((*spath, "requires", j), (
                            f"unknown step or track '{req}'{did_you_mean(req, opts)}"
                        ))
                cert = s.certification or (s.name or s.id) if s.kind == "certification" else None
                steps.append(Step(
                    id=s.id, track=tid, kind=s.kind, name=s.name or s.id, points=s.points,
                    requires=tuple(s.requires), certification=cert,
                ))
            tracks.append(Track(
                id=tid, program=pid, name=t.name or tid, steps=tuple(steps),
                segments=tuple(t.open_to.segments), partner_types=tuple(t.open_to.partner_types),
                requires=tuple(t.requires), enrol=t.enrol, sequential=t.sequential,
                next_step_task=t.next_step_task,
            ))
        ladder = self.ladder(raw.ladder, (*base, "ladder"), all_tracks) if raw.ladder else None
        return ProgramSpec(pid, raw.name, tuple(tracks), ladder, raw.description)

    def levels(
        self, levels: dict[str, _RawCriteria | None], path: PathKey, all_tracks: set[str],
        allowed: Iterable[str] = LEVEL_RANKS,
    ) -> tuple[Criteria, ...]:
        out: list[Criteria] = []
        last = 0
        for name, crit in levels.items():
            lpath: PathKey = (*path, name)
            if not self.known_level(name, allowed, lpath):
                continue
            rank = LEVEL_RANKS[name]
            if rank <= last:
                self.add(lpath, (
                    f"levels must be listed lowest first: '{name}' (rank {rank}) comes after a "
                    f"level of rank {last}"
                ), key=True)
            last = max(last, rank)
            crit = crit or _RawCriteria()
            for fact in crit.min:
                self.known(fact, _numeric_facts(), "fact", (*lpath, "min", fact))
            for i, tid in enumerate(crit.tracks):
                self.known(tid, sorted(all_tracks), "track", (*lpath, "tracks", i))
            out.append(Criteria(name, dict(crit.min), tuple(crit.tracks)))
        return tuple(out)

    def known_level(self, name: str, allowed: Iterable[str], path: PathKey) -> bool:
        opts = list(allowed)
        if name in opts:
            return True
        self.add(path, (
            f"unknown level '{name}'{did_you_mean(name, opts)} (levels are the "
            f"ChannelProgramLevel names: {', '.join(opts)})"
        ), key=True)
        return False

    def ladder(self, raw: _RawLadder, path: PathKey, all_tracks: set[str]) -> Ladder:
        levels = self.levels(raw.levels, (*path, "levels"), all_tracks)
        names = [c.level for c in levels]
        variants = []
        for vid, v in raw.variants.items():
            vpath: PathKey = (*path, "variants", vid)
            self.check_id(vid, "variant", vpath, key=True)
            if not v.countries and not v.industries:
                self.add(vpath, (
                    f"variant '{vid}' needs countries or industries (which partners use it)"
                ), key=True)
            vlevels = self.levels(v.levels, (*vpath, "levels"), all_tracks, allowed=names)
            variants.append(LadderVariant(
                vid, tuple(c.strip().casefold() for c in v.countries),
                tuple(i.strip().casefold() for i in v.industries), vlevels,
            ))
        return Ladder(levels, tuple(variants))

    def incentive(
        self, iid: str, raw: _RawIncentive, programs: dict[str, ProgramSpec],
        segments: dict[str, Segment],
    ) -> Incentive:
        path: PathKey = ("incentives", iid)
        self.check_id(iid, "incentive", path, key=True)
        self.known(raw.program, programs, "program", (*path, "program"))
        if raw.kind in ("mdf", "spiff") and raw.amount is None:
            self.add(path, f"incentive '{iid}' ({raw.kind}) needs an amount", key=True)
        if raw.kind == "rebate" and raw.percent is None:
            self.add(path, f"incentive '{iid}' (rebate) needs a percent", key=True)
        el = raw.eligible
        for i, seg in enumerate(el.segments):
            self.known(seg, segments, "segment", (*path, "eligible", "segments", i))
        for i, ptype in enumerate(el.partner_types):
            self.known(ptype, PARTNER_TYPES, "partner type",
                       (*path, "eligible", "partner_types", i))
        if el.min_tier is not None:
            prog = programs.get(raw.program)
            ladder = [c.level for c in prog.ladder.levels] if prog and prog.ladder else []
            if not ladder and prog is not None:
                self.add((*path, "eligible", "min_tier"), (
                    f"min_tier needs a ladder in program '{raw.program}'"
                ))
            elif prog is not None:
                self.known_level(el.min_tier, ladder, (*path, "eligible", "min_tier"))
        return Incentive(
            id=iid, program=raw.program, kind=raw.kind, name=raw.name, amount=raw.amount,
            percent=raw.percent,
            eligible=Eligibility(tuple(el.segments), el.min_tier, tuple(el.partner_types)),
        )

    # -- whole-file checks ------------------------------------------------------------------

    def unique_ids(self, raw: _RawFile) -> None:
        seen_tracks: dict[str, PathKey] = {}
        for pid, p in raw.programs.items():
            for tid in p.tracks:
                path: PathKey = ("programs", pid, "tracks", tid)
                if tid in seen_tracks:
                    line = self.loc.where(seen_tracks[tid], key=True)[0]
                    self.add(path, f"duplicate track id '{tid}' (first defined on line {line})",
                             key=True)
                else:
                    seen_tracks[tid] = path
        seen_steps: dict[str, PathKey] = {}
        for pid, p in raw.programs.items():
            for tid, t in p.tracks.items():
                for i, s in enumerate(t.steps):
                    path = ("programs", pid, "tracks", tid, "steps", i, "id")
                    if s.id in seen_steps:
                        line = self.loc.where(seen_steps[s.id])[0]
                        self.add(path, f"duplicate step id '{s.id}' (first defined on line {line})")
                    elif s.id in seen_tracks:
                        self.add(path, f"step id '{s.id}' is also a track id: requires would be "
                                 "ambiguous")
                    else:
                        seen_steps[s.id] = path

    def cycles(self, spec: ProgramsSpec) -> None:
        """Prerequisites must form no cycle (a step that can never be started)."""
        graph = prerequisite_graph(spec)
        where = _requires_paths(spec)
        state: dict[str, int] = {}
        reported: set[frozenset[str]] = set()

        def visit(node: str, stack: list[str]) -> None:
            state[node] = 1
            stack.append(node)
            for dep in graph.get(node, ()):
                if state.get(dep) == 1:
                    cycle = [*stack[stack.index(dep):], dep]
                    members = frozenset(cycle)
                    if members not in reported:
                        reported.add(members)
                        path = where.get((node, dep)) or where.get((cycle[0], cycle[1])) or ()
                        self.add(path, "cyclic prerequisites: " + " -> ".join(cycle))
                elif state.get(dep) is None:
                    visit(dep, stack)
            stack.pop()
            state[node] = 2

        for node in graph:
            if node not in state:
                visit(node, [])


def prerequisite_graph(spec: ProgramsSpec) -> dict[str, list[str]]:
    """Node (step or track id) -> what it waits for: a track waits for its steps."""
    graph: dict[str, list[str]] = {}
    for track in spec.tracks.values():
        graph[track.id] = [s.id for s in track.steps]
        previous: str | None = None
        for step in track.steps:
            deps = list(step.requires) + list(track.requires)
            if track.sequential and previous is not None:
                deps.append(previous)
            graph[step.id] = deps
            previous = step.id
    return graph


def _requires_paths(spec: ProgramsSpec) -> dict[tuple[str, str], PathKey]:
    """(node, dependency) -> where the dependency is written, to locate a cycle."""
    out: dict[tuple[str, str], PathKey] = {}
    for pid, prog in spec.programs.items():
        for track in prog.tracks:
            tpath: PathKey = ("programs", pid, "tracks", track.id)
            for i, s in enumerate(track.steps):
                for j, req in enumerate(s.requires):
                    out[(s.id, req)] = (*tpath, "steps", i, "requires", j)
                for j, req in enumerate(track.requires):
                    out.setdefault((s.id, req), (*tpath, "requires", j))
                if track.sequential and i:
                    out.setdefault((s.id, track.steps[i - 1].id), (*tpath, "sequential"))
            for i, s in enumerate(track.steps):
                out.setdefault((track.id, s.id), (*tpath, "steps", i, "id"))
    return out


def _cel_runtime(err: Exception) -> str:
    if isinstance(err, KeyError):
        return f"reads a missing value {err} (check field and track names)"
    text = str(err).split(". ", 1)[0]
    return f"does not evaluate for a sample partner: {text}"


def _numeric_facts() -> list[str]:
    """The facts a ladder criterion may set a minimum for: every number of the partner
    layer's catalogue (with programs' track facts), nothing listed a second time."""
    from connector.programs.facts import catalogue_for

    return sorted(n for n, f in catalogue_for(None).facts.items() if f.type in ("int", "float"))
