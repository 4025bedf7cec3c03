"""CEL over partner facts: compile once, check what an expression reads, evaluate.

Segments (and the triggers' rules) see one variable, ``partner``: a dict of facts (see
``PARTNER_FACTS``) plus the receiver function ``partner.certifications_in(x)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from connector.programs.spec import PARTNER_FACTS

__all__ = [
    "CEL_FUNCTIONS",
    "CelCheckError",
    "Predicate",
    "certifications_in",
    "compile_predicate",
    "evaluate_many",
    "evaluate_predicate",
    "prepare_predicate",
    "referenced_facts",
    "sample_partner",
]

# CEL's standard functions and macros an expression may call besides ours.
_STANDARD = frozenset(
    {
        "size", "contains", "startsWith", "endsWith", "matches", "int", "uint", "double",
        "string", "bool", "bytes", "type", "timestamp", "duration", "has", "exists", "all",
        "exists_one", "map", "filter", "lowerAscii", "upperAscii", "trim", "replace", "split",
        "join", "indexOf", "lastIndexOf", "substring", "getFullYear", "getMonth",
        "getDayOfMonth", "getDayOfWeek", "getDayOfYear", "getHours", "getMinutes",
        "min", "max", "dyn",
    }
)
_OURS = frozenset({"certifications_in"})
_HELPERS = frozenset({"certification_names", "track_certifications"})  # certifications_in's
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_FIELD = re.compile(r"\bpartner\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)(\s*\()?")
# partner.certifications_in('a literal'): computed in Python before CEL runs (prepare_predicate)
_CALL = re.compile(r"\bpartner\s*\.\s*certifications_in\s*\(\s*('[^'\\]*'|\"[^\"\\]*\")\s*\)")


class CelCheckError(ValueError):
    """An expression that does not compile or reads something partners do not have."""


def certifications_in(partner: Mapping[str, Any], what: str) -> int:
    """Certifications of ``partner`` in track ``what`` (completed certification steps), else
    certifications whose name contains ``what`` (any case)."""
    helper = partner.get("certifications_in")
    if isinstance(helper, Mapping):  # the triggers pass what it needs under its own name
        partner = helper
    by_track = partner.get("track_certifications") or {}
    if what in by_track:
        return int(by_track[what])
    needle = str(what).casefold()
    return sum(1 for n in partner.get("certification_names") or () if needle in n.casefold())


CEL_FUNCTIONS: dict[str, Any] = {"certifications_in": certifications_in}


def compile_predicate(source: str) -> cel.Program:
    """Compile ``source`` and check it calls known functions and reads known partner facts."""
    try:
        program = cel.compile(source)
    except ValueError as err:
        detail = str(err).split("ERROR: <input>:", 1)[-1].split("\n", 1)[0].strip()
        m = re.match(r"(\d+):(\d+): (.*)", detail)
        if m:
            detail = f"line {m.group(1)} column {m.group(2)} of the expression: {m.group(3)}"
        raise CelCheckError(f"invalid CEL at {detail}") from None
    for fn in program.references().get("functions", []):
        if fn[0] in "_@!-" or fn in _STANDARD or fn in _OURS:
            continue
        raise CelCheckError(
            f"unknown function '{fn}' (known: certifications_in and CEL's standard functions)"
        )
    bare = _STRING.sub("''", source)
    for m in _FIELD.finditer(bare):
        name, call = m.group(1), m.group(2)
        if call and name in _OURS:
            continue
        if name not in PARTNER_FACTS and name not in _HELPERS:
            raise CelCheckError(
                f"unknown partner fact '{name}' (known: {', '.join(PARTNER_FACTS)})"
            )
    return program


def referenced_facts(source: str) -> frozenset[str]:
    """The ``partner`` facts ``source`` reads (what a subset passed to CEL must hold)."""
    names: set[str] = set()
    for m in _FIELD.finditer(_STRING.sub("''", source)):
        if m.group(1) in _OURS:
            names |= {"track_certifications", "certification_names"}
        else:
            names.add(m.group(1))
    return frozenset(names)


def evaluate_predicate(program: cel.Program, partner: Mapping[str, Any]) -> bool:
    """Run a compiled predicate for one partner; a non-boolean result is an error."""
    ctx = cel.Context({"partner": dict(partner)}, CEL_FUNCTIONS)
    result = program.execute(ctx)
    if not isinstance(result, bool):
        raise CelCheckError(f"must be true or false, got {type(result).__name__} {result!r}")
    return result


@dataclass(frozen=True)
class Predicate:
    """A partner predicate made ready for many partners.

    ``partner.certifications_in('x')`` with a literal argument is computed in Python and read
    by CEL as a plain number (``partner._ci0``), so an expression over scalar facts hands CEL
    only scalars; partners whose inputs are equal share one evaluation (``evaluate_many``).
    """

    source: str
    program: Any  # cel.Program of the rewritten source
    refs: tuple[str, ...]  # partner facts the rewritten source reads
    calls: tuple[tuple[str, str], ...] = ()  # (variable, argument) of each literal call

    @property
    def needs(self) -> frozenset[str]:
        """The facts to fetch for ``inputs``."""
        helpers = {"track_certifications", "certification_names"} if self.calls else set()
        return frozenset(self.refs) | helpers

    def inputs(self, partner: Mapping[str, Any]) -> dict[str, Any]:
        """What CEL sees as ``partner`` for this predicate."""
        values = {k: partner.get(k) for k in self.refs}
        for var, arg in self.calls:
            values[var] = certifications_in(partner, arg)
        return values


def prepare_predicate(source: str) -> Predicate:
    """Check ``source`` (``compile_predicate``) and compile it once for ``evaluate_many``."""
    program = compile_predicate(source)
    strings = [m.span() for m in _STRING.finditer(source)]
    calls: dict[str, str] = {}  # argument -> variable

    def precomputed(m: re.Match[str]) -> str:
        if any(a <= m.start() < b for a, b in strings):  # inside a string literal: text
            return m.group(0)
        arg = m.group(1)[1:-1]
        var = calls.setdefault(arg, f"_ci{len(calls)}")
        return f"partner.{var}"

    rewritten = _CALL.sub(precomputed, source)
    if calls:
        program = cel.compile(rewritten)
    refs = tuple(sorted(n for n in referenced_facts(rewritten) if not n.startswith("_ci")))
    return Predicate(source, program, refs, tuple((v, a) for a, v in calls.items()))


def _hashable(values: dict[str, Any]) -> tuple[Any, ...] | None:
    """``values`` as a key when they are all scalars (else None: evaluate on its own)."""
    out = tuple(values.values())
    for v in out:
        if isinstance(v, (list, dict, set)):
            return None
    return out


def evaluate_many(
    pred: Predicate, partners: Mapping[int, Mapping[str, Any]]
) -> dict[int, Any]:
    """Partner id -> the predicate's result (True/False, another value, or the exception a
    partner's values raised). Equal inputs are evaluated once."""
    ctx = cel.Context(functions=CEL_FUNCTIONS)
    seen: dict[tuple[Any, ...], Any] = {}
    out: dict[int, Any] = {}
    for pid, partner in partners.items():
        values = pred.inputs(partner)
        key = _hashable(values)
        if key is not None and key in seen:
            out[pid] = seen[key]
            continue
        ctx.add_variable("partner", values)
        try:
            result = pred.program.execute(ctx)
        except Exception as err:  # one partner's values must not stop the others
            result = err
        out[pid] = result
        if key is not None:
            seen[key] = result
    return out


def sample_partner(track_ids: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Facts of an imaginary partner, to type-check expressions when the file is loaded."""
    return {
        "id": 1,
        "sf_id": "001000000000001AAA",
        "name": "Sample Partner",
        "status": "Active",
        "type": "Reseller",
        "country": "GB",
        "industry": "Technology",
        "tier": "Registered",
        "tier_rank": 1,
        "segments": [],
        "tracks": {
            t: {"status": "enrolled", "completed_steps": [], "percent": 0.0,
                "certifications": 0, "completed": False}
            for t in track_ids
        },
        "points": 0,
        "certifications": 0,
        "certification_names": [],
        "track_certifications": {t: 0 for t in track_ids},
        "closed_won_this_quarter": 0.0,
        "closed_won_last_quarter": 0.0,
        "closed_won_trailing_4q": 0.0,
        "active_registrations": 0,
        "tracks_completed": 0,
    }
