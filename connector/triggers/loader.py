"""Load triggers.yaml into a ``RuleSet``: every rule checked on its own, every problem located.

Checked at load, against mapping.yaml: the entity exists, every ``new.x``/``old.x`` names a
local field of it and every ``partner.x`` a partner field or fact; the condition compiles and
returns a bool; actions exist, their parameters are valid and apply to the entity; CEL
parameters return the type they must; cron schedules parse. One mistake hides no other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import ConfigError, ConfigProblem
from connector.mapping.names import did_you_mean
from connector.mapping.spec import MappingSpec
from connector.partners.cel import (
    CelError,
    Expression,
    cel_type_name,
    compile_expression,
    first_sentence,
    located_problem,
    sample_value,
)
from connector.partners.env import RuleEnv
from connector.store.stream import SOURCES
from connector.triggers.catalogue import ACTIONS
from connector.triggers.spec import (
    EVENTS,
    LIVE_SOURCES,
    SEGMENT_EVENTS,
    ActionSpec,
    Rule,
    RuleSet,
    TriggerSettings,
)
from connector.yamlconf import Located, load, loads

__all__ = [
    "RuleContext",
    "load_trigger_settings",
    "load_triggers",
    "loads_triggers",
    "probe_context",
    "validate_cron",
]

VARIABLES = ("new", "old", "partner", "conflict", "now")

PathKey = tuple[str | int, ...]
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_RULE_KEYS = (
    "id", "description", "entity", "for_each", "on", "schedule", "scope", "when", "mode", "stage",
    "enabled", "order", "sources", "actions", "otherwise", "segment",
)
_TOP_KEYS = ("version", "settings", "triggers")
_COMMON_FIELDS = {"id": "int", "sf_id": "str"}


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)
    protection_window_days: int = Field(default=90, ge=0, le=3650)
    downgrade_grace_days: int = Field(default=30, ge=0, le=3650)


class RuleContext:
    """What a rule of one entity may read: its fields, the partner's, and the extra variables."""

    def __init__(self, spec: MappingSpec, entity: str, env: RuleEnv) -> None:
        ent = spec.entities[entity]
        self.entity = entity
        self.fields: dict[str, str] = dict(_COMMON_FIELDS)
        for f in ent.fields.values():
            self.fields[f.local] = "lookup" if f.lookup else f.local_type
        self.partner_fields: dict[str, str] = dict(_COMMON_FIELDS)
        if "partner" in spec.entities:
            for f in spec.entities["partner"].fields.values():
                self.partner_fields[f.local] = "lookup" if f.lookup else f.local_type
        self.partner_fields.update(env.catalogue.types())
        self.partner_samples = env.catalogue.samples()
        self.functions = env.callables()
        partner_ref = ent.fields.get("partner")
        self.has_partner = entity == "partner" or (
            partner_ref is not None and partner_ref.lookup == "partner"
        )


def probe_context(ctx: RuleContext) -> dict[str, Any]:
    """Typed sample values for every variable a rule of ``ctx.entity`` can read."""
    record = {name: sample_value(t) for name, t in ctx.fields.items()}
    return {
        "new": record,
        "old": dict(record),
        "partner": {name: ctx.partner_samples.get(name, sample_value(t))
                    for name, t in ctx.partner_fields.items()},
        "conflict": False,
        "now": sample_value("datetime"),
    }


def validate_cron(expr: str) -> str | None:
    """None if ``expr`` is a 5-field cron APScheduler accepts, else what is wrong."""
    from apscheduler.triggers.cron import CronTrigger

    if len(expr.split()) != 5:
        return f'must be a 5-field cron expression such as "0 2 * * *" (got {expr!r})'
    try:
        CronTrigger.from_crontab(expr, timezone="UTC")
    except ValueError as err:
        return f"invalid cron {expr!r}: {err}"
    return None


def load_triggers(
    path: str | Path, spec: MappingSpec, *, env: RuleEnv | None = None
) -> RuleSet:
    """Read and validate triggers.yaml against ``spec`` and the rule environment ``env``
    (default: the partner layer's facts and the built-in actions); every problem raises
    together."""
    return _build(load(path), spec, env or RuleEnv(), lambda: Path(path).read_text("utf-8"))


def load_trigger_settings(path: str | Path) -> TriggerSettings:
    """triggers.yaml's ``settings:`` alone (the fiscal calendar for commands that run no
    rule); a bad setting raises ``ConfigError`` at its line."""
    loc = load(path)
    b = _Builder(loc, MappingSpec(entities={}), RuleEnv(), lambda: "")  # settings only
    data = loc.data if isinstance(loc.data, dict) else {}
    settings = b.settings(data)
    if b.problems:
        raise ConfigError(b.problems)
    return settings


def loads_triggers(
    text: str, spec: MappingSpec, file: str = "triggers.yaml", *, env: RuleEnv | None = None,
) -> RuleSet:
    """``load_triggers`` for YAML text (tests)."""
    return _build(loads(text, file), spec, env or RuleEnv(), lambda: text)


class _Builder:
    def __init__(self, loc: Located, spec: MappingSpec, env: RuleEnv,
                 text: Callable[[], str]) -> None:
        self.loc = loc
        self.spec = spec
        self.env = env
        self.actions = {**ACTIONS, **env.actions}
        self._text = text
        self.problems: list[ConfigProblem] = []
        self._contexts: dict[str, RuleContext] = {}

    def cel_problem(self, where: PathKey, what: str, err: CelError) -> None:
        """``err`` located in the file: the expression's position inside its YAML value."""
        self.problems.append(located_problem(self.loc, where, what, err, self._text))

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> None:
        self.problems.append(self.loc.problem(path, message, key=key))

    def context(self, entity: str) -> RuleContext:
        if entity not in self._contexts:
            self._contexts[entity] = RuleContext(self.spec, entity, self.env)
        return self._contexts[entity]

    def unknown_keys(
        self, data: Mapping[str, Any], allowed: tuple[str, ...], path: PathKey
    ) -> None:
        for key in data:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed)
                self.problem(
                    (*path, str(key)),
                    f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))}){hint}",
                    key=True,
                )

    def validation(self, err: ValidationError, path: PathKey, what: str) -> None:
        for e in err.errors(include_url=False):
            sub = tuple(p for p in e["loc"] if isinstance(p, (str, int)))
            full = (*path, *sub)
            if e["type"] == "extra_forbidden":
                self.problem(full, f"{what}: unknown parameter '{sub[-1]}'", key=True)
            elif e["type"] == "missing":
                self.problem(path, f"{what}: missing required parameter '{sub[-1]}'")
            else:
                msg = e["msg"].removeprefix("Value error, ")
                name = ".".join(str(p) for p in sub)
                self.problem(full, f"{what}: {name}: {msg}" if name else f"{what}: {msg}")

    def settings(self, data: Mapping[str, Any]) -> TriggerSettings:
        """The ``settings:`` section (defaults where it is bad: the problem is recorded)."""
        try:
            s = _Settings.model_validate(data.get("settings") or {})
        except ValidationError as err:
            self.validation(err, ("settings",), "settings")
            return TriggerSettings()
        return TriggerSettings(**s.model_dump())

    # -- one rule -------------------------------------------------------------------------

    def rule(self, raw: Any, index: int, seen: dict[str, int]) -> Rule | None:
        path: PathKey = ("triggers", index)
        if not isinstance(raw, dict):
            self.problem(path, "each trigger must be a mapping with id, entity, when and actions")
            return None
        before = len(self.problems)
        self.unknown_keys(raw, _RULE_KEYS, path)
        rule_id = self._id(raw, path, seen)
        entity = self._entity(raw, path)
        schedule = raw.get("schedule")
        on = self._events(raw, path, schedule)
        mode = self._choice(raw, path, "mode", ("on_true", "every_time"), "on_true")
        stage = self._choice(raw, path, "stage", ("live", "dry_run"), "live")
        enabled = raw.get("enabled", True)
        if not isinstance(enabled, bool):
            self.problem((*path, "enabled"), "enabled must be true or false")
        order = raw.get("order", 0)
        if not isinstance(order, int) or isinstance(order, bool):
            self.problem((*path, "order"), f"order must be a whole number (got {order!r})")
            order = 0
        sources = self._sources(raw, path)
        segment = self._segment(raw, path, entity, on)
        when: Expression | None = None
        scope: Expression | None = None
        actions: tuple[ActionSpec, ...] = ()
        otherwise: tuple[ActionSpec, ...] = ()
        if entity is not None:
            ctx = self.context(entity)
            when = self._when(raw, path, ctx, "when", scheduled=schedule is not None)
            if "scope" in raw:
                scope = self._when(raw, path, ctx, "scope", scheduled=schedule is not None)
            actions = self._actions(raw, path, "actions", ctx, schedule is not None)
            otherwise = self._actions(raw, path, "otherwise", ctx, schedule is not None)
            if not actions and not otherwise and "actions" not in raw:
                self.problem(path, f"trigger '{rule_id}' has no actions: add an 'actions:' list")
        if len(self.problems) > before or entity is None or when is None or rule_id is None:
            return None
        if "scope" in raw and scope is None:
            return None
        line = self.loc.where(path)[0]
        return Rule(
            id=rule_id, entity=entity, when=when, scope=scope, on=on, schedule=schedule,
            mode=mode,  # type: ignore[arg-type]
            stage=stage,  # type: ignore[arg-type]
            enabled=bool(enabled), order=order, sources=sources,
            description=str(raw.get("description") or ""), actions=actions,
            otherwise=otherwise, file=self.loc.file, line=line, segment=segment,
        )

    def _segment(
        self, raw: dict[str, Any], path: PathKey, entity: str | None, on: tuple[str, ...]
    ) -> str | None:
        segment = raw.get("segment")
        watches = [ev for ev in on if ev in SEGMENT_EVENTS]
        if watches and entity not in (None, "partner"):
            self.problem((*path, "on"), f"{watches[0]} is a partner event: use entity: partner")
        if segment is None:
            return None
        if not isinstance(segment, str):
            self.problem((*path, "segment"), "segment must be a segment name from programs.yaml")
            return None
        if not watches:
            self.problem((*path, "segment"), "segment: only applies to on: [segment_entered, "
                                             "segment_left]")
        known = self.env.segments
        if known is not None and segment not in known:
            names = sorted(known)
            self.problem((*path, "segment"), f"unknown segment '{segment}' (programs.yaml has: "
                                             f"{', '.join(names) or 'none'})"
                         + did_you_mean(segment, names))
            return None
        return segment

    def _id(self, raw: dict[str, Any], path: PathKey, seen: dict[str, int]) -> str | None:
        rule_id = raw.get("id")
        if rule_id is None:
            self.problem(path, "missing required key 'id' (a stable name: part of firing keys)")
            return None
        if not isinstance(rule_id, str) or not _ID.match(rule_id):
            self.problem((*path, "id"), (
                f"id {rule_id!r} must be lower-case letters, digits, '-', '_' or '.', "
                "e.g. auto-approve-registration"))
            return None
        if rule_id in seen:
            self.problem((*path, "id"), f"duplicate trigger id '{rule_id}' (first on line "
                                        f"{seen[rule_id]})")
            return None
        seen[rule_id] = self.loc.where((*path, "id"))[0]
        return rule_id

    def _entity(self, raw: dict[str, Any], path: PathKey) -> str | None:
        entity, for_each = raw.get("entity"), raw.get("for_each")
        if entity is not None and for_each is not None and entity != for_each:
            self.problem((*path, "for_each"), (
                f"for_each '{for_each}' differs from entity '{entity}': give one of them"))
            return None
        name = entity if entity is not None else for_each
        key = "entity" if entity is not None else "for_each"
        if name is None:
            self.problem(path, "missing required key 'entity' (an entity from mapping.yaml)")
            return None
        if not isinstance(name, str) or name not in self.spec.entities:
            known = list(self.spec.entities)
            self.problem((*path, key), (
                f"unknown entity '{name}' (mapping.yaml has: {', '.join(known)})"
                + did_you_mean(str(name), known)))
            return None
        return name

    def _events(self, raw: dict[str, Any], path: PathKey, schedule: Any) -> tuple[str, ...]:
        on = raw.get("on")
        if schedule is not None:
            if on is not None:
                self.problem((*path, "on"), "give either on: (events) or schedule: (cron), "
                                            "not both")
            if not isinstance(schedule, str):
                self.problem((*path, "schedule"), "schedule must be a cron string such as "
                                                  '"0 2 * * *"')
            elif (err := validate_cron(schedule)) is not None:
                self.problem((*path, "schedule"), f"schedule: {err}")
            return ()
        if on is None:
            self.problem(path, "missing 'on:' (created, updated, deleted) or 'schedule:' (cron)")
            return ()
        events = [on] if isinstance(on, str) else on
        if not isinstance(events, list) or not events:
            self.problem((*path, "on"), "on must be a list of events: created, updated, deleted")
            return ()
        out = []
        known = (*EVENTS, *SEGMENT_EVENTS)
        for i, ev in enumerate(events):
            if ev not in known:
                where = (*path, "on", i) if isinstance(on, list) else (*path, "on")
                self.problem(where, f"unknown event {ev!r} (events: {', '.join(known)})"
                             + did_you_mean(str(ev), known))
            else:
                out.append(ev)
        return tuple(out)

    def _choice(
        self, raw: dict[str, Any], path: PathKey, key: str, allowed: tuple[str, ...], default: str
    ) -> str:
        value = raw.get(key, default)
        if value not in allowed:
            self.problem((*path, key), f"{key} must be one of {', '.join(allowed)} "
                                       f"(got {value!r})" + did_you_mean(str(value), allowed))
            return default
        return str(value)

    def _sources(self, raw: dict[str, Any], path: PathKey) -> tuple[str, ...]:
        value = raw.get("sources")
        if value is None:
            return LIVE_SOURCES
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem((*path, "sources"), f"sources must be a list of: {', '.join(SOURCES)}")
            return LIVE_SOURCES
        for i, v in enumerate(value):
            if v not in SOURCES:
                self.problem((*path, "sources", i), f"unknown change source {v!r} "
                                                    f"(sources: {', '.join(SOURCES)})")
        return tuple(v for v in value if v in SOURCES)

    # -- CEL --------------------------------------------------------------------------------

    def _expression(
        self, source: Any, where: PathKey, ctx: RuleContext, what: str, *, scheduled: bool
    ) -> Expression | None:
        if isinstance(source, bool):
            source = "true" if source else "false"
        elif isinstance(source, (int, float)):
            source = repr(source)
        if not isinstance(source, str):
            self.problem(where, f"{what} must be a CEL expression (text)")
            return None
        try:
            expr = compile_expression(source, variables=VARIABLES,
                                      functions=self.env.functions, limits=self.env.limits)
        except CelError as err:
            self.cel_problem(where, what, err)
            return None
        ok = True
        for var, names in sorted(expr.refs.items()):
            if var.endswith("()"):  # receiver calls: checked as functions when compiled
                continue
            known = ctx.partner_fields if var == "partner" else ctx.fields
            for name in sorted(names):
                if name not in known:
                    owner = "partner" if var == "partner" else ctx.entity
                    self.problem(where, (
                        f"{what}: unknown field '{var}.{name}' ({owner} has: "
                        f"{', '.join(sorted(known))})" + did_you_mean(name, list(known))))
                    ok = False
        if "partner" in expr.variables and not ctx.has_partner:
            self.problem(where, f"{what}: entity '{ctx.entity}' has no partner lookup, so "
                                "'partner' is not available")
            ok = False
        if "conflict" in expr.variables and ctx.entity != "deal_registration":
            self.problem(where, f"{what}: 'conflict' is only defined for deal_registration")
            ok = False
        if "old" in expr.variables and scheduled:
            self.problem(where, f"{what}: a scheduled rule has no 'old' record")
            ok = False
        return expr if ok else None

    def _probe(self, expr: Expression, ctx: RuleContext) -> tuple[Any, str | None]:
        values = probe_context(ctx)
        try:
            return expr.run(cel.Context(values, ctx.functions), values.values()), None
        except (TypeError, ValueError, RuntimeError, KeyError) as err:
            return None, first_sentence(err)

    def _when(
        self, raw: dict[str, Any], path: PathKey, ctx: RuleContext, key: str, *, scheduled: bool
    ) -> Expression | None:
        where = (*path, key)
        expr = self._expression(raw.get(key, "true"), where, ctx, key, scheduled=scheduled)
        if expr is None:
            return None
        result, error = self._probe(expr, ctx)
        if error is not None:
            self.problem(where, f"{key}: {error}")
            return None
        if not isinstance(result, bool):
            self.problem(where, f"{key} must return a bool, but returns {cel_type_name(result)}"
                                " (write a comparison with ==, <, >, in, or a bool field)")
            return None
        return expr

    def _actions(
        self, raw: dict[str, Any], path: PathKey, key: str, ctx: RuleContext, scheduled: bool
    ) -> tuple[ActionSpec, ...]:
        items = raw.get(key)
        if items is None:
            return ()
        if not isinstance(items, list):
            self.problem((*path, key), f"{key} must be a list, e.g. - approve_registration: "
                                       "{reason: ...}")
            return ()
        out: list[ActionSpec] = []
        for i, item in enumerate(items):
            got = self._action(item, (*path, key, i), ctx, scheduled)
            if got is not None:
                out.append(got)
        return tuple(out)

    def _action(
        self, item: Any, path: PathKey, ctx: RuleContext, scheduled: bool
    ) -> ActionSpec | None:
        name: Any
        params: Any
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = {} if params is None else params
        else:
            self.problem(path, "an action is one name with its parameters, e.g. "
                               "- set_tier: {level: Gold}")
            return None
        definition = self.actions.get(name)
        if definition is None:
            where = (*path, str(name)) if isinstance(item, dict) else path
            known = list(self.actions)
            self.problem(where, f"unknown action '{name}' (actions: {', '.join(known)})"
                         + did_you_mean(str(name), known), key=isinstance(item, dict))
            return None
        ppath = (*path, name)
        if not isinstance(params, dict):
            self.problem(ppath, f"{name}: parameters must be a mapping, e.g. {{reason: ...}}")
            return None
        if definition.entities is not None and ctx.entity not in definition.entities:
            self.problem(ppath, f"{name} applies to {', '.join(definition.entities)} records, "
                                f"not {ctx.entity}", key=True)
            return None
        if definition.needs_partner and not ctx.has_partner:
            self.problem(ppath, f"{name} needs the record's partner, and entity '{ctx.entity}' "
                                "has no partner lookup", key=True)
            return None
        try:
            model = definition.params.model_validate(params)
        except ValidationError as err:
            self.validation(err, ppath, name)
            return None
        expressions: dict[str, Expression] = {}
        for param, kind in definition.cel.items():
            value = getattr(model, param)
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                 and kind == "number"):
                continue
            where = (*ppath, param)
            expr = self._expression(value, where, ctx, f"{name}.{param}", scheduled=scheduled)
            if expr is None:
                return None
            result, error = self._probe(expr, ctx)
            if error is not None:
                self.problem(where, f"{name}.{param}: {error}")
                return None
            if kind == "number" and (isinstance(result, bool)
                                     or not isinstance(result, (int, float))):
                self.problem(where, f"{name}.{param} must return a number, but returns "
                                    f"{cel_type_name(result)}")
                return None
            expressions[param] = expr
        if name == "set_field" and not self._settable(model.field, ppath, ctx):  # type: ignore[attr-defined]
            return None
        return ActionSpec(name, model.model_dump(), expressions, self.loc.where(path)[0])

    def _settable(self, name: str, path: PathKey, ctx: RuleContext) -> bool:
        fields = [f for f in ctx.fields if f not in _COMMON_FIELDS]
        if name not in fields:
            self.problem((*path, "field"), f"set_field: unknown field '{name}' of "
                                           f"{ctx.entity} (has: {', '.join(fields)})"
                         + did_you_mean(name, fields))
            return False
        return True


def _build(loc: Located, spec: MappingSpec, env: RuleEnv, text: Callable[[], str]) -> RuleSet:
    b = _Builder(loc, spec, env, text)
    data = loc.data
    if data == {} or data is None:
        return RuleSet(TriggerSettings(), [], loc.file, env)
    if not isinstance(data, dict):
        raise ConfigError([loc.problem((), "triggers.yaml must be a mapping with a 'triggers:' "
                                            "list")])
    b.unknown_keys(data, _TOP_KEYS, ())
    settings = b.settings(data)
    raws = data.get("triggers", [])
    if raws is None:
        raws = []
    if not isinstance(raws, list):
        b.problem(("triggers",), "triggers must be a list of rules (each starting with '- id:')")
        raws = []
    seen: dict[str, int] = {}
    rules = [r for i, raw in enumerate(raws) if (r := b.rule(raw, i, seen)) is not None]
    if b.problems:
        raise ConfigError(b.problems)
    # a stable evaluation order: `order` first, then the file's
    rules.sort(key=lambda r: (r.order, r.line))
    return RuleSet(settings, rules, loc.file, env)
