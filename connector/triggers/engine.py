"""The trigger engine: changes and their context in, decisions out. Pure: no I/O, no clock.

For each change, the rules of its entity that watch its event and source are evaluated in
order on one reused ``cel.Context``. A record version is in one of three states for a rule:
outside its ``scope``, in the ``actions`` branch (``when`` true) or in ``otherwise``.
``mode: on_true`` fires a branch when the record enters it: on create, or when the previous
version was in another state (as Salesforce Flow's "only when a record is updated to meet the
condition"); ``every_time`` fires the branch of every matching change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cel

from connector.partners.actions import PlannedAction
from connector.partners.cel import BASE_FUNCTIONS, Expression, first_sentence, to_cel

if TYPE_CHECKING:  # the spec's default rule environment reads the store: types only here
    from connector.triggers.spec import ActionSpec, Rule

__all__ = [
    "REGISTRATION_DECISIONS",
    "Change",
    "Decision",
    "Evaluator",
    "Facts",
    "PlannedAction",
    "firing_key",
    "referenced_fields",
]

REGISTRATION_DECISIONS = ("approve_registration", "reject_registration", "route_for_review")


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one record as the engine sees it (values already typed)."""

    entity: str
    op: str  # created | updated | deleted | undeleted | scheduled
    local_id: int | None
    sf_id: str | None
    new: Mapping[str, Any] | None
    old: Mapping[str, Any] | None = None
    version: str = ""  # the record version (or scheduled period) in firing keys
    seq: int | None = None
    source: str = "poll"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the store says around a change: the partner map and the registration conflict."""

    partner: Mapping[str, Any] | None = None
    conflict: bool = False
    conflict_note: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What one rule decided about one change, and why."""

    rule: Rule
    change: Change
    outcome: str  # fire | not_fired | error
    reason: str
    branch: str | None = None  # actions | otherwise
    actions: tuple[PlannedAction, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    notable: bool = True  # worth an audit row (plain "condition false" is not)

    @property
    def key(self) -> str:
        """The firing key: rule, record, version (or period)."""
        return firing_key(self.rule.id, self.change)


def firing_key(rule_id: str, change: Change) -> str:
    """``rule|entity|record|version``: unique in the store, so a rule fires once per version."""
    record = change.local_id if change.local_id is not None else change.sf_id
    return f"{rule_id}|{change.entity}|{record}|{change.version}"


def referenced_fields(
    rules: Iterable[Rule], function_reads: Callable[[str], frozenset[str]] | None = None
) -> dict[str, frozenset[str]]:
    """Per variable (new, old, partner): the fields some rule reads (a receiver call such as
    ``partner.certifications_in(x)`` reads what ``function_reads`` says it does)."""
    out: dict[str, set[str]] = {"new": set(), "old": set(), "partner": set()}
    reads = function_reads or (lambda name: BASE_FUNCTIONS[name].reads
                               if name in BASE_FUNCTIONS else frozenset())
    for rule in rules:
        for expr in rule.expressions():
            for var, names in expr.refs.items():
                if var.endswith("()"):
                    for name in names:
                        out[var[:-2]] |= reads(name)
                else:
                    out[var] |= names
    record = out["new"] | out["old"]
    return {"new": frozenset(record), "old": frozenset(record),
            "partner": frozenset(out["partner"])}


def _subset(values: Mapping[str, Any] | None, names: frozenset[str]) -> dict[str, Any] | None:
    if values is None:
        return None
    return {n: to_cel(values.get(n)) for n in names}


class Evaluator:
    """Evaluates rules on changes with two reused CEL contexts (this version and the last).

    Binding a variable converts it into CEL values (the costly part), so each change binds
    only the fields some rule reads, the partner map only when it is another partner's, and
    the previous version's context only when an ``on_true`` rule needs it. ``keep_all=False``
    (the consumer) drops the plain "condition false" decisions nobody records.
    """

    def __init__(
        self, rules: Iterable[Rule], now: datetime,
        functions: Mapping[str, Callable[..., Any]] | None = None, *, keep_all: bool = True,
    ) -> None:
        self.rules = list(rules)
        self.fields = referenced_fields(self.rules)
        self.keep_all = keep_all
        self.now = to_cel(now)
        if functions is None:
            functions = {n: f.fn for n, f in BASE_FUNCTIONS.items()}
        self.current = cel.Context(functions=dict(functions))
        self.previous = cel.Context(functions=dict(functions))
        for ctx in (self.current, self.previous):
            ctx.add_variable("now", self.now)
        self.previous.add_variable("old", None)
        self._partner: Any = object()  # the partner map last put in the current context
        self._prev_partner: Any = object()
        self._prev_change: Change | None = None
        self._old: dict[str, Any] | None = None
        self._bound_partner: dict[str, Any] | None = None
        self._static: dict[tuple[str, str], tuple[PlannedAction, ...]] = {}
        self.evaluations = 0

    def _bind(self, change: Change, facts: Facts) -> dict[str, Any]:
        """Bind ``change`` into the current context; returns the inputs for the audit."""
        new = _subset(change.new, self.fields["new"])
        old = _subset(change.old, self.fields["old"])
        current = self.current
        current.add_variable("new", new)
        current.add_variable("old", old)
        current.add_variable("conflict", facts.conflict)
        partner = facts.partner
        if partner is not self._partner:
            self._bound_partner = _subset(partner, self.fields["partner"])
            current.add_variable("partner", self._bound_partner)
            self._partner = partner
        self._old = old
        self._prev_change = None
        return {"new": new, "old": old, "conflict": facts.conflict,
                "partner": self._bound_partner}

    def _previous(self, change: Change, facts: Facts) -> Any:
        """The context of the version before ``change`` (bound on first use per change)."""
        if self._prev_change is not change:
            prev = self.previous
            prev.add_variable("new", self._old)
            prev.add_variable("conflict", facts.conflict)
            if facts.partner is not self._prev_partner:
                prev.add_variable("partner", self._bound_partner)
                self._prev_partner = facts.partner
            self._prev_change = change
        return self.previous

    def decide(self, rules: Iterable[Rule], change: Change, facts: Facts) -> list[Decision]:
        """Decisions of ``rules`` (already filtered to the change's entity) on ``change``."""
        op, source = change.op, change.source
        if op == "scheduled":
            todo = [r for r in rules if r.schedule is not None]
        else:  # inlined _watches: this line runs rules x changes times
            todo = [r for r in rules if op in r.on and source in r.sources]
        if not todo:
            return []
        inputs = self._bind(change, facts)
        one = self._one
        return [d for rule in todo if (d := one(rule, change, facts, inputs)) is not None]

    def decide_one(self, rule: Rule, change: Change, facts: Facts) -> Decision:
        """``rule``'s decision on ``change`` whatever events it watches (dry tests)."""
        keep, self.keep_all = self.keep_all, True
        try:
            d = self._one(rule, change, facts, self._bind(change, facts))
        finally:
            self.keep_all = keep
        assert d is not None
        return d

    def _run(self, expr: Expression, ctx: Any, values: Any) -> Any:
        """Evaluate ``expr``; one whose ranges the text does not fix is first costed with the
        bound values and refused over its budget (``OverBudget``: an error for this record)."""
        self.evaluations += 1
        if expr.bounded:
            return expr.program.execute(ctx)
        return expr.run(ctx, values)

    def _state(self, rule: Rule, ctx: Any, values: Any = ()) -> str | None:
        """Which branch a record version is in: None outside the scope, else the branch."""
        if rule.scope is not None and self._run(rule.scope, ctx, values) is not True:
            return None
        result = self._run(rule.when, ctx, values)
        if result is True:
            return "actions"
        if result is False:
            return "otherwise"
        raise TypeError(f"the condition returned {type(result).__name__}, not a bool")

    def _quiet(self, rule: Rule, change: Change, reason: str, inputs: dict[str, Any]
               ) -> Decision | None:
        if not self.keep_all:
            return None
        return Decision(rule, change, "not_fired", reason, inputs=inputs, notable=False)

    def _one(
        self, rule: Rule, change: Change, facts: Facts, inputs: dict[str, Any]
    ) -> Decision | None:
        try:
            if rule.scope is None and rule.when.bounded:  # the common case, inlined
                self.evaluations += 1
                result = rule.when.program.execute(self.current)
                if result is True:
                    state: str | None = "actions"
                elif result is False:
                    state = "otherwise"
                else:
                    raise TypeError(f"the condition returned {type(result).__name__}")
            else:
                state = self._state(rule, self.current, _values(inputs))
        except Exception as err:  # a broken rule never stops the others
            failed = rule.when if rule.scope is None else None
            return Decision(rule, change, "error", f"condition failed: {_one_line(err)}"
                            + _null_hint(inputs, failed or rule), inputs=inputs)
        if state is None:
            return self._quiet(rule, change, "out of scope", inputs)
        actions = rule.actions if state == "actions" else rule.otherwise
        why = "condition true" if state == "actions" else "condition false"
        if not actions:
            return self._quiet(rule, change, why, inputs)
        if rule.mode == "on_true" and change.op == "updated" and change.old is not None:
            try:
                before = self._state(rule, self._previous(change, facts), _values(inputs))
            except Exception:
                before = None  # a condition that failed before held no branch before
            if before == state:
                if state != "actions":
                    return self._quiet(rule, change, f"{why} before this change too "
                                                     "(mode on_true)", inputs)
                return Decision(rule, change, "not_fired",
                                f"{why} before this change too (mode on_true)", inputs=inputs)
            why = "condition became true" if state == "actions" else "condition became false"
        return self._fire(rule, change, facts, state, actions, why, inputs)

    def _fire(
        self, rule: Rule, change: Change, facts: Facts, branch: str,
        actions: tuple[ActionSpec, ...], reason: str, inputs: dict[str, Any],
    ) -> Decision:
        noted = facts.conflict and facts.conflict_note
        static = self._static.get((rule.id, branch)) if not noted else None
        if static is not None:  # no CEL parameters: the same planned actions every time
            return Decision(rule, change, "fire", reason, branch, static, inputs)
        planned = []
        for action in actions:
            params = action.params
            if action.expressions:
                params = dict(params)
                try:
                    for name, expr in action.expressions.items():
                        params[name] = self._run(expr, self.current, _values(inputs))
                except Exception as err:
                    return Decision(rule, change, "error",
                                    f"{action.name}.{name} failed: {_one_line(err)}"
                                    + _null_hint(inputs, expr), branch=branch, inputs=inputs)
            if action.name in REGISTRATION_DECISIONS and facts.conflict and facts.conflict_note:
                base = str(params.get("reason") or "")
                params = {**params, "reason": f"{base}; {facts.conflict_note}" if base
                          else facts.conflict_note}
            planned.append(PlannedAction(action.name, params))
        if not noted and not any(a.expressions for a in actions):
            self._static[(rule.id, branch)] = tuple(planned)
        return Decision(rule, change, "fire", reason, branch, tuple(planned), inputs)


def _watches(rule: Rule, change: Change) -> bool:
    if change.op == "scheduled":
        return rule.scheduled
    if rule.segment is not None and (change.new or {}).get("segment") != rule.segment:
        return False
    return change.op in rule.on and change.source in rule.sources


def _values(inputs: dict[str, Any]) -> tuple[Any, ...]:
    """The bound variables a run-time cost estimate reads."""
    return (inputs["new"], inputs["old"], inputs["partner"])


def _null_hint(inputs: dict[str, Any], failed: Expression | Rule) -> str:
    """The null fields the failing expression reads (never another expression's)."""
    exprs = [failed] if isinstance(failed, Expression) else failed.expressions()
    read = {(var, name) for e in exprs for var, names in e.refs.items()
            if var in ("new", "old", "partner") for name in names}
    nulls = [f"{var}.{name}" for var in ("new", "old", "partner")
             for name, value in (inputs.get(var) or {}).items()
             if value is None and (var, name) in read]
    if not nulls:
        return ""
    return f" ({', '.join(sorted(nulls))} {'is' if len(nulls) == 1 else 'are'} null)"


def _one_line(err: BaseException) -> str:
    return first_sentence(err)
