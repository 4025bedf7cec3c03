"""CEL over partner facts: compile once, check what an expression reads, evaluate.

Segments see one variable, ``partner``: every fact of the partner layer's catalogue (the
rules' facts, with programs' track facts) and the partner's fields, plus the receiver
function ``partner.certifications_in(x)``. Compiling and checking is the partner layer's
(``connector.partners.cel``); this module adds the segment-preview fast path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cel

from connector.partners.cel import (
    BASE_FUNCTIONS,
    CelError,
    Expression,
    certifications_in,
    compile_expression,
    field_refs,
)
from connector.partners.facts import FactCatalogue
from connector.store.models import column_types

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

# One CEL module (``connector.partners.cel``): its error is the segments' error too.
CelCheckError = CelError
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
# partner.certifications_in('a literal'): computed in Python before CEL runs (prepare_predicate)
_CALL = re.compile(r"\bpartner\s*\.\s*certifications_in\s*\(\s*('[^'\\]*'|\"[^\"\\]*\")\s*\)")

CEL_FUNCTIONS: dict[str, Any] = {n: f.fn for n, f in BASE_FUNCTIONS.items()}


def _partner_names(catalogue: FactCatalogue) -> set[str]:
    """What ``partner.x`` may name in a segment: every fact and every partner column."""
    return set(catalogue.facts) | set(column_types("partner"))


def compile_predicate(source: str, catalogue: FactCatalogue | None = None) -> Expression:
    """Compile ``source`` (bounds, cost, syntax: ``connector.partners.cel``) and check it
    calls known functions and reads known partner facts (default: every fact, programs'
    track facts included)."""
    if catalogue is None:
        from connector.programs.facts import catalogue_for

        catalogue = catalogue_for(None)
    expr = compile_expression(source, variables=("partner",), functions=BASE_FUNCTIONS)
    known = _partner_names(catalogue)
    for name in sorted(expr.refs.get("partner", ())):
        if name not in known:
            raise CelError(f"unknown partner fact '{name}' (known: "
                           f"{', '.join(sorted(catalogue.facts))} and the partner's fields)")
    return expr


def referenced_facts(source: str) -> frozenset[str]:
    """The ``partner`` facts ``source`` reads (what a subset passed to CEL must hold)."""
    refs = field_refs(source)
    names = set(refs.get("partner", ()))
    for fn in refs.get("partner()", ()):
        if fn in BASE_FUNCTIONS:
            names |= BASE_FUNCTIONS[fn].reads
    return frozenset(names)


def evaluate_predicate(program: Any, partner: Mapping[str, Any]) -> bool:
    """Run a compiled predicate for one partner (within its budget); a non-boolean result
    is an error."""
    values = {"partner": dict(partner)}
    ctx = cel.Context(values, CEL_FUNCTIONS)
    if isinstance(program, Expression):
        result = program.run(ctx, values.values())
    else:
        result = program.execute(ctx)
    if not isinstance(result, bool):
        raise CelError(f"must be true or false, got {type(result).__name__} {result!r}")
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
    expr: Expression | None = None  # the checked expression (its cost shape, its budget)

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


def prepare_predicate(source: str, catalogue: FactCatalogue | None = None) -> Predicate:
    """Check ``source`` (``compile_predicate``) and compile it once for ``evaluate_many``."""
    expr = compile_predicate(source, catalogue)
    program = expr.program
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
    return Predicate(source, program, refs, tuple((v, a) for a, v in calls.items()), expr)


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
            if pred.expr is not None and not pred.expr.bounded:
                pred.expr.run(_Dry(), (values,))  # refuses an evaluation over its budget
            result = pred.program.execute(ctx)
        except Exception as err:  # one partner's values must not stop the others
            result = err
        out[pid] = result
        if key is not None:
            seen[key] = result
    return out


class _Dry:
    """A context ``Expression.run`` only costs (the rewritten program runs after)."""


def sample_partner(
    track_ids: list[str] | tuple[str, ...] = (), catalogue: FactCatalogue | None = None
) -> dict[str, Any]:
    """Facts of an imaginary partner, to type-check expressions when the file is loaded."""
    from connector.partners.cel import sample_value

    if catalogue is None:
        from connector.programs.facts import catalogue_for

        catalogue = catalogue_for(None)
    out: dict[str, Any] = {n: sample_value(t) for n, t in column_types("partner").items()}
    out.update({"id": 1, "sf_id": "001000000000001AAA", "name": "Sample Partner",
                "status": "Active"})
    out.update(catalogue.samples())
    out["tracks"] = {t: {"status": "enrolled", "completed_steps": [], "percent": 0.0,
                         "certifications": 0, "completed": False} for t in track_ids}
    out["track_certifications"] = {t: 0 for t in track_ids}
    out["segments"] = []
    return out
