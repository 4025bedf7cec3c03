"""One field's options in mapping.yaml (crm, direction, type, lookup, transform, values,
conflict), checked and built into a ``FieldMapping``; problems are located, never raised."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from connector.errors import ConfigProblem
from connector.mapping.names import API_NAME, SNAKE_CASE, did_you_mean
from connector.mapping.spec import Conflict, Direction, FieldMapping
from connector.mapping.transforms import (
    REGISTRY,
    LocalType,
    Transform,
    build_pipeline,
    default_for_type,
)
from connector.yamlconf import Located

__all__ = ["PathKey", "RawField", "Strict", "build_field"]

PathKey = tuple[str | int, ...]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class RawField(Strict):
    """A field's options as written (short forms already expanded)."""

    crm: str
    direction: Direction = "in"
    transform: Any = None
    values: Any = None
    lookup: str | None = None
    conflict: Conflict = "crm_wins"
    type: LocalType | None = None


def build_field(
    local: str, raw: RawField, names: list[str], path: PathKey, loc: Located,
    problems: list[ConfigProblem],
) -> FieldMapping:
    """The ``FieldMapping`` for ``raw``; each mistake is appended to ``problems``, located."""
    start = len(problems)
    if not SNAKE_CASE.match(local):
        problems.append(loc.problem(
            path, f"field name '{local}' must be snake_case, e.g. end_customer_name", key=True))
    if not API_NAME.match(raw.crm):
        problems.append(loc.problem((*path, "crm"), (
            f"crm '{raw.crm}' is not a Salesforce field API name "
            "(letters, digits and _, e.g. Name or Partner_Status__c)")))
    if raw.lookup is not None and raw.lookup not in names:
        problems.append(loc.problem((*path, "lookup"), (
            f"lookup '{raw.lookup}' is not an entity in this file (entities: "
            f"{', '.join(names)})" + did_you_mean(raw.lookup, names))))
    if "conflict" in raw.model_fields_set and raw.direction != "both":
        problems.append(loc.problem((*path, "conflict"), (
            f"conflict only applies to direction: both fields ('{local}' is {raw.direction})")))
    steps = _steps(raw.transform, (*path, "transform"), loc, problems)
    local_type = _local_type(local, raw, steps, path, loc, problems)
    values = _values(local, raw, local_type, path, loc, problems)
    if steps and len(problems) == start:
        try:  # a default: value must itself be a valid local value
            build_pipeline(steps, local_type).to_local(None)
        except ValueError as err:
            problems.append(loc.problem((*path, "transform"), (
                f"transform on '{local}' turns a null into something that is not a "
                f"{local_type}: {err}")))
    if len(problems) > start:  # keep going with something valid; the error is already out
        steps, values = (), None
    return FieldMapping(
        local=local,
        crm=raw.crm,
        direction=raw.direction,
        transform=" | ".join(s.name for s in steps) or None,
        values=values,
        lookup=raw.lookup,
        conflict=raw.conflict,
        local_type=local_type,
        steps=steps,
    )


def _steps(
    spec: Any, path: PathKey, loc: Located, problems: list[ConfigProblem]
) -> tuple[Transform, ...]:
    if spec is None:
        return ()
    items: Sequence[Any] = spec if isinstance(spec, list) else [spec]
    out: list[Transform] = []
    for i, item in enumerate(items):
        where = (*path, i) if isinstance(spec, list) else path
        step = _step(item, where, loc, problems)
        if step is not None:
            out.append(step)
    return tuple(out)


def _step(
    item: Any, path: PathKey, loc: Located, problems: list[ConfigProblem]
) -> Transform | None:
    valid = ", ".join(sorted(REGISTRY))
    if isinstance(item, str):
        name, args, name_path = item, {}, path
    elif isinstance(item, dict) and isinstance(item.get("name"), str):
        name, name_path = item["name"], (*path, "name")
        args = {k: v for k, v in item.items() if k != "name"}
    else:
        problems.append(loc.problem(path, (
            "transform must be a name, {name: NAME, ARG: VALUE} or a list of those "
            f"(names: {valid})")))
        return None
    definition = REGISTRY.get(name)
    if definition is None:
        problems.append(loc.problem(
            name_path,
            f"unknown transform '{name}' (valid: {valid})" + did_you_mean(name, REGISTRY)))
        return None
    bad = False
    for arg, value in args.items():
        types = definition.params.get(str(arg))
        if types is None:
            takes = ", ".join(definition.params) or "no arguments"
            problems.append(loc.problem((*path, str(arg)), (
                f"transform '{name}' has no argument '{arg}' (it takes {takes})"
                + did_you_mean(str(arg), definition.params)), key=True))
            bad = True
        elif (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            problems.append(loc.problem(
                (*path, str(arg)), f"transform '{name}': {arg} must be {names} (got {value!r})"))
            bad = True
    for arg in definition.required:
        if arg not in args:
            problems.append(loc.problem(path, f"transform '{name}' needs '{arg}'"))
            bad = True
    if bad:
        return None
    return definition.build(**{str(k): v for k, v in args.items()})


def _local_type(
    local: str, raw: RawField, steps: tuple[Transform, ...], path: PathKey, loc: Located,
    problems: list[ConfigProblem],
) -> LocalType:
    produced = next((s.local_type for s in reversed(steps) if s.local_type is not None), None)
    if raw.lookup is not None:
        if raw.type not in (None, "lookup"):
            problems.append(loc.problem((*path, "type"), (
                f"'{local}' is a lookup, so its type is lookup (remove type: {raw.type})")))
        if steps:
            problems.append(loc.problem((*path, "transform"), (
                f"'{local}' is a lookup: it holds a record reference and takes no transform")))
        return "lookup"
    if raw.type == "lookup":
        problems.append(loc.problem((*path, "type"), (
            f"type lookup needs `lookup: ENTITY` naming the entity '{local}' refers to")))
        return "str"
    if raw.type is not None and produced is not None and produced != raw.type:
        problems.append(loc.problem((*path, "type"), (
            f"transform '{' | '.join(s.name for s in steps)}' produces {produced} but type is "
            f"{raw.type}; drop one or make them agree")))
    return raw.type or produced or "str"


def _values(
    local: str, raw: RawField, local_type: LocalType, path: PathKey, loc: Located,
    problems: list[ConfigProblem],
) -> dict[str, Any] | None:
    if raw.values is None:
        return None
    vpath = (*path, "values")
    if not isinstance(raw.values, dict) or not raw.values:
        problems.append(loc.problem(vpath, (
            "values must map Salesforce picklist values to local values, "
            "e.g. {\"Closed Won\": won}")))
        return None
    if local_type != "str":
        problems.append(loc.problem(vpath, (
            f"values (a picklist map) needs a text field, but '{local}' has type {local_type}")))
        return None
    converter = default_for_type(local_type)
    out: dict[str, Any] = {}
    seen: dict[Any, str] = {}
    for crm_value, local_value in raw.values.items():
        item = (*vpath, str(crm_value))
        if not isinstance(crm_value, str):
            problems.append(loc.problem(item, (
                f"picklist value {crm_value!r} must be text (YAML reads unquoted yes/no/on/"
                "off and numbers otherwise); quote it"), key=True))
            continue
        try:
            out[crm_value] = converter.to_local(local_value)
        except ValueError:
            problems.append(loc.problem(item, (
                f"local value for '{crm_value}' must be text (got {local_value!r})")))
            continue
        if raw.direction == "both" and out[crm_value] in seen:
            problems.append(loc.problem(item, (
                f"'{seen[out[crm_value]]}' and '{crm_value}' both map to '{out[crm_value]}'; a "
                "direction: both field needs a one-to-one values map to write back")))
        seen.setdefault(out[crm_value], crm_value)
    return out
