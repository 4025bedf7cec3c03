"""Load mapping.yaml into a ``MappingSpec``: shape, entity checks and dependency order.

Each entity and field is validated on its own, so one mistake hides no other: every problem in
the file is raised together as one ``ConfigError`` naming file:line:col.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from connector.errors import ConfigError, ConfigProblem
from connector.mapping.names import API_NAME, SNAKE_CASE, did_you_mean
from connector.mapping.options import PathKey, RawField, Strict, build_field
from connector.mapping.soql_filter import filter_problem
from connector.mapping.spec import EntityMapping, FieldMapping, MappingSpec
from connector.yamlconf import Located, load, loads

__all__ = ["load_mapping", "loads_mapping"]

_M = TypeVar("_M", bound=BaseModel)


class _RawEntity(Strict):
    """An entity as written."""

    sobject: str
    filter: str | None = None
    key: str = "Id"
    fields: dict[str, Any]  # each validated on its own, so one bad field hides no other


class _RawMapping(Strict):
    """The whole file as written."""

    version: Literal[1] = 1
    entities: dict[str, Any] = Field(default_factory=dict)


def load_mapping(path: str | Path) -> MappingSpec:
    """Read and validate mapping.yaml; every problem raises together as one ``ConfigError``."""
    return _build(load(path))


def loads_mapping(text: str, file: str = "mapping.yaml") -> MappingSpec:
    """``load_mapping`` for YAML text (tests, scaffolds)."""
    return _build(loads(text, file))


def _build(loc: Located) -> MappingSpec:
    if not isinstance(loc.data, dict):
        raise ConfigError([loc.problem((), (
            "mapping.yaml must be a mapping with 'version: 1' and an 'entities:' section")
        )])
    problems: list[ConfigProblem] = []
    top = _validate(_RawMapping, _normalise(loc, problems), (), loc, problems)
    if top is None:
        raise ConfigError(problems)
    names = [str(n) for n in top.entities]
    raws = {
        name: raw for name, data in top.entities.items()
        if (raw := _validate(_RawEntity, data, ("entities", name), loc, problems)) is not None
    }
    entities = {name: _entity(name, raw, names, loc, problems) for name, raw in raws.items()}
    _check_sobjects_unique(raws, loc, problems)
    order = _dependency_order(entities, loc, problems)
    if problems:
        raise ConfigError(problems)
    return MappingSpec({n: entities[n] for n in order}, loc.file, loc)


def _validate(
    model: type[_M], data: Any, prefix: PathKey, loc: Located, problems: list[ConfigProblem]
) -> _M | None:
    """``model`` from ``data`` found at ``prefix``; None (and located problems) if invalid."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        for e in err.errors(include_url=False):
            path = (*prefix, *(p for p in e["loc"] if isinstance(p, str | int)))
            dotted = ".".join(str(p) for p in path) or "(top level)"
            if e["type"] == "missing":
                where = ".".join(str(p) for p in path[:-1])
                problems.append(loc.problem(path[:-1], f"missing required key '{path[-1]}'"
                                            + (f" in {where}" if where else "")))
            else:
                message = e["msg"].removeprefix("Value error, ")
                problems.append(loc.problem(path, f"{dotted}: {message}"))
        return None


def _known(
    obj: dict[Any, Any], model: type[BaseModel], path: PathKey, loc: Located,
    problems: list[ConfigProblem],
) -> dict[Any, Any]:
    """``obj`` without keys ``model`` does not have; each one is a problem with a suggestion."""
    allowed = list(model.model_fields)
    out = {}
    for key, value in obj.items():
        if key in allowed:
            out[key] = value
            continue
        hint = did_you_mean(str(key), allowed)
        problems.append(loc.problem((*path, str(key)), (
            f"unknown key '{key}' (allowed: {', '.join(sorted(allowed))}){hint}"), key=True))
    return out


def _normalise(loc: Located, problems: list[ConfigProblem]) -> dict[Any, Any]:
    """Drop unknown keys (reported) and expand ``name: Name`` to ``name: {crm: Name}``."""
    data = _known(loc.data, _RawMapping, (), loc, problems)
    entities = data.get("entities")
    if not isinstance(entities, dict):
        return data
    data["entities"] = {}
    for ename, ent in entities.items():
        epath: PathKey = ("entities", str(ename))
        if not _named(ename, "entity", epath, loc, problems):
            continue
        if not isinstance(ent, dict):
            problems.append(loc.problem(epath, (
                f"entity '{ename}' must be a mapping with sobject: and fields:")))
            continue
        ent = _known(ent, _RawEntity, epath, loc, problems)
        if ent.get("fields") == {}:
            problems.append(loc.problem(
                (*epath, "fields"), f"entity '{ename}' maps no fields; add at least one"))
        elif isinstance(ent.get("fields"), dict):
            fields = {}
            for fname, value in ent["fields"].items():
                fpath = (*epath, "fields", str(fname))
                if _named(fname, "field", fpath, loc, problems):
                    shaped = _field_shape(fname, value, fpath, loc, problems)
                    if shaped is not None:
                        fields[fname] = shaped
            ent["fields"] = fields
        data["entities"][ename] = ent
    return data


def _named(
    name: Any, what: str, path: PathKey, loc: Located, problems: list[ConfigProblem]
) -> bool:
    """True if ``name`` is text; YAML reads unquoted yes/no/on/off and numbers otherwise."""
    if isinstance(name, str):
        return True
    problems.append(loc.problem(path, (
        f"{what} name {name!r} must be text; quote it or use a snake_case word"), key=True))
    return False


def _field_shape(
    name: Any, value: Any, path: PathKey, loc: Located, problems: list[ConfigProblem]
) -> dict[Any, Any] | None:
    if isinstance(value, str):
        return {"crm": value}
    if isinstance(value, dict):
        return _known(value, RawField, path, loc, problems)
    problems.append(loc.problem(path, (
        f"field '{name}' needs a Salesforce field: write `{name}: Name` or "
        f"`{name}: {{crm: Name, direction: both}}`")))
    return None


def _entity(
    name: str, raw: _RawEntity, names: list[str], loc: Located, problems: list[ConfigProblem]
) -> EntityMapping:
    base: PathKey = ("entities", name)
    if not SNAKE_CASE.match(name):
        problems.append(loc.problem(
            base, f"entity name '{name}' must be snake_case (lower-case letters, digits and _, "
            "starting with a letter), e.g. deal_registration", key=True))
    if not API_NAME.match(raw.sobject):
        problems.append(loc.problem(
            (*base, "sobject"), f"sobject '{raw.sobject}' is not a Salesforce API name "
            "(letters, digits and _, e.g. Account or Deal_Registration__c)"))
    if raw.filter is not None:
        _check_filter(raw.filter, (*base, "filter"), loc, problems)
    fields: dict[str, FieldMapping] = {}
    for local, data in raw.fields.items():
        path = (*base, "fields", str(local))
        f = _validate(RawField, data, path, loc, problems)
        if f is not None:
            fields[str(local)] = build_field(str(local), f, names, path, loc, problems)
    _check_duplicate_crm(fields, base, loc, problems)
    if len(fields) == len(raw.fields):  # a key check against half the fields would mislead
        _check_key(raw, fields, base, loc, problems)
    return EntityMapping(name, raw.sobject, fields, raw.key, raw.filter)


def _check_filter(text: str, path: PathKey, loc: Located, problems: list[ConfigProblem]) -> None:
    problem = filter_problem(text)
    if problem is not None:
        problems.append(loc.problem(path, problem))


def _check_duplicate_crm(
    fields: dict[str, FieldMapping], base: PathKey, loc: Located, problems: list[ConfigProblem]
) -> None:
    seen: dict[str, str] = {}
    for local, f in fields.items():
        first = seen.setdefault(f.crm.lower(), local)
        if first != local:
            line = loc.where((*base, "fields", first), key=True)[0]
            problems.append(loc.problem(
                (*base, "fields", local, "crm"),
                f"Salesforce field '{f.crm}' is already mapped by '{first}' (line {line}); "
                "map each Salesforce field once"))


def _check_key(
    raw: _RawEntity, fields: dict[str, FieldMapping], base: PathKey, loc: Located,
    problems: list[ConfigProblem],
) -> None:
    if raw.key == "Id":
        return
    path = (*base, "key")
    if not raw.key.endswith("__c"):
        problems.append(loc.problem(path, (
            f"key '{raw.key}' must be 'Id' or an external id field, a custom field ending in "
            "__c such as PRM_Key__c")))
        return
    mapped = next((f for f in fields.values() if f.crm.lower() == raw.key.lower()), None)
    if mapped is None:
        problems.append(loc.problem(path, (
            f"key '{raw.key}' is not a mapped field; add it, e.g. "
            f"`prm_key: {{crm: {raw.key}, direction: both}}`")))
    elif mapped.direction == "in":
        problems.append(loc.problem(path, (
            f"key '{raw.key}' is mapped by '{mapped.local}' with direction in; the connector "
            "writes the external id when it creates records, so use direction both")))


def _check_sobjects_unique(
    raws: dict[str, _RawEntity], loc: Located, problems: list[ConfigProblem]
) -> None:
    seen: dict[str, str] = {}
    for name, ent in raws.items():
        first = seen.setdefault(ent.sobject.lower(), name)
        if first != name:
            problems.append(loc.problem(("entities", name, "sobject"), (
                f"sobject '{ent.sobject}' is already mapped by entity '{first}'; map each "
                "sObject once (use a filter to narrow it)")))


def _dependency_order(
    entities: dict[str, EntityMapping], loc: Located, problems: list[ConfigProblem]
) -> list[str]:
    """Entity names with lookup targets first, else file order (self-lookups are fine)."""
    deps = {
        name: [t for t in e.lookups().values() if t in entities and t != name]
        for name, e in entities.items()
    }
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(entities):
        ready = [n for n in entities if n not in placed and all(d in placed for d in deps[n])]
        if not ready:
            stuck = [n for n in entities if n not in placed]
            cycle = _find_cycle(stuck, deps)
            first = cycle[0]
            field_name = next(f for f, t in entities[first].lookups().items() if t == cycle[1])
            problems.append(loc.problem(
                ("entities", first, "fields", field_name, "lookup"),
                f"lookup cycle: {' -> '.join(cycle)}; lookups must not loop between entities "
                "(keep one side as a plain Id string: drop `lookup:` there)"))
            order.extend(stuck)
            break
        order.append(ready[0])
        placed.add(ready[0])
    return order


def _find_cycle(stuck: list[str], deps: dict[str, list[str]]) -> list[str]:
    """One cycle among ``stuck`` entities (each has an unplaced dependency), closed: a, b, a."""
    path = [stuck[0]]
    while True:
        nxt = next(d for d in deps[path[-1]] if d in stuck)
        if nxt in path:
            cycle = path[path.index(nxt):]
            return [*cycle, nxt]
        path.append(nxt)
