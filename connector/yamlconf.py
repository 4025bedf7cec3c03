"""YAML config loading that remembers where every key and value came from.

Every config file (connector.yaml, mapping.yaml, triggers.yaml) is read through ``load``, then
validated with pydantic; ``problems_from_validation`` turns pydantic's errors into
``ConfigProblem`` lines naming file, line and column, so an admin sees every mistake at once.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from connector.errors import ConfigError, ConfigProblem

__all__ = [
    "Located",
    "interpolate_env",
    "load",
    "parse_model",
    "problems_from_validation",
]

PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


@dataclass
class Located:
    """Parsed YAML data plus the (line, column) of every key and value, by path."""

    file: str
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Line and column of the value at ``path`` (or its key), else of the nearest parent."""
        p = tuple(path)
        while True:
            table = self.key_marks if key else self.marks
            if p in table:
                return table[p]
            if not key and p in self.key_marks:
                return self.key_marks[p]
            if not p:
                return (1, 1)
            p = p[:-1]

    def problem(
        self, path: Sequence[str | int], message: str, *, key: bool = False
    ) -> ConfigProblem:
        """A ``ConfigProblem`` located at ``path``."""
        line, col = self.where(path, key=key)
        return ConfigProblem(self.file, line, col, message)


# libyaml's parser when PyYAML has it (10x faster on the default config's four files); it
# gives the same nodes, tags and 0-based marks.
_FAST: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(path: str | Path) -> Located:
    """Read a YAML file; syntax errors and duplicate keys become a ``ConfigError``."""
    p = Path(path)
    name = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(name, 1, 1, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([ConfigProblem(name, 1, 1, f"cannot read file: {err}")]) from None
    return loads(text, name)


def _alias_problems(text: str, file: str) -> list[ConfigProblem]:
    """Every ``*alias`` (and ``<<: *merge``) in ``text``, located.

    Config files are short and written by hand; an alias only saves typing, and expanding
    nested ones is exponential (a few hundred bytes can ask for gigabytes: the "billion
    laughs"). So aliases are refused before anything is built. Scanning tokens is linear.
    """
    if "*" not in text:
        return []
    problems: list[ConfigProblem] = []
    try:
        for token in yaml.scan(text, Loader=_FAST):
            if isinstance(token, yaml.AliasToken):
                problems.append(ConfigProblem(
                    file, token.start_mark.line + 1, token.start_mark.column + 1,
                    f"YAML aliases are not allowed in config files (*{token.value}); write the "
                    "value out in full",
                ))
    except yaml.YAMLError:
        return []  # a syntax error: compose reports it with its location
    return problems


def loads(text: str, file: str) -> Located:
    """Parse YAML text (see ``load``); aliases and non-finite numbers are refused."""
    aliases = _alias_problems(text, file)
    if aliases:
        raise ConfigError(aliases)
    try:
        try:
            node = yaml.compose(text, Loader=_FAST)
        except yaml.YAMLError:
            # the same error, worded and located by the pure-Python parser as it always was
            node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = err.problem or str(err)
        raise ConfigError([ConfigProblem(file, line, col, f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as err:
        raise ConfigError([ConfigProblem(file, 1, 1, f"invalid YAML: {err}")]) from None
    located = Located(file=file, data=None)
    if node is None:
        located.data = {}
        return located
    problems: list[ConfigProblem] = []
    located.data = _build(node, (), located, problems)
    if problems:
        raise ConfigError(problems)
    return located


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, path: PathKey, loc: Located, problems: list[ConfigProblem]) -> Any:
    loc.marks[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader(  # resolve the key's scalar type (ints, bools) as YAML would
                ""
            ).construct_object(key_node, deep=True)
            if isinstance(key, bool):
                # YAML 1.1 reads `on:`/`yes:` as True; a config key means the word written.
                key = key_node.value
            if isinstance(key, (list, dict)):
                problems.append(ConfigProblem(loc.file, *_mark(key_node), "a key must be a scalar"))
                continue
            kpath = (*path, str(key))
            if key in out:
                first = loc.key_marks.get(kpath, (0, 0))[0]
                problems.append(
                    ConfigProblem(
                        loc.file,
                        *_mark(key_node),
                        f"duplicate key '{key}' (first defined on line {first})",
                    )
                )
                continue
            loc.key_marks[kpath] = _mark(key_node)
            out[key] = _build(value_node, kpath, loc, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), loc, problems) for i, item in enumerate(node.value)]
    value = yaml.SafeLoader("").construct_object(node, deep=True)
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(ConfigProblem(
            loc.file, *_mark(node),
            f"{node.value} is not a finite number; write a number (NaN and infinity are not "
            "allowed)",
        ))
    return value


def interpolate_env(
    loc: Located, env: Mapping[str, str] | None = None, *, skip: Sequence[str] = ()
) -> list[ConfigProblem]:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string value, in place.

    Returns one problem per variable that is unset and has no default; ``skip`` names top-level
    keys left untouched (for example CEL expressions that may contain ``${``).
    """
    environ = os.environ if env is None else env
    problems: list[ConfigProblem] = []

    def sub(value: str, path: PathKey) -> str:
        def repl(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            got = environ.get(name)
            if got is not None and got != "":
                return got
            if default is not None:
                return default
            problems.append(
                loc.problem(path, f"environment variable {name} is not set (used as ${{{name}}})")
            )
            return ""

        return _ENV_RE.sub(repl, value)

    def walk(obj: Any, path: PathKey) -> Any:
        if isinstance(obj, dict):
            for k in list(obj):
                if not path and k in skip:
                    continue
                obj[k] = walk(obj[k], (*path, str(k)))
            return obj
        if isinstance(obj, list):
            return [walk(v, (*path, i)) for i, v in enumerate(obj)]
        if isinstance(obj, str) and "${" in obj:
            return sub(obj, path)
        return obj

    loc.data = walk(loc.data, ())
    return problems


def problems_from_validation(
    err: ValidationError, loc: Located, model: type[BaseModel] | None = None
) -> list[ConfigProblem]:
    """One ``ConfigProblem`` per pydantic error, at the line of the offending key or value."""
    problems: list[ConfigProblem] = []
    for e in err.errors(include_url=False):
        path = tuple(p for p in e["loc"] if isinstance(p, (str, int)))
        # pydantic appends the tag of a tagged union / function validators to loc; drop
        # trailing parts that are not in the document so the mark lands on the nearest real node.
        kind = e["type"]
        dotted = ".".join(str(p) for p in path) or "(top level)"
        if kind == "extra_forbidden":
            msg = f"unknown key '{path[-1]}'" + _suggest(model, path)
            problems.append(loc.problem(path, msg, key=True))
            continue
        if kind == "missing":
            where = ".".join(str(p) for p in path[:-1])
            msg = f"missing required key '{path[-1]}'" + (f" in {where}" if where else "")
            problems.append(loc.problem(path[:-1], msg))
            continue
        message = e["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append(loc.problem(path, f"{dotted}: {message}"))
    return problems


def _model_at(model: type[BaseModel] | None, path: PathKey) -> type[BaseModel] | None:
    """The pydantic model that holds the last key of ``path`` (None when unknown)."""
    current: Any = model
    for part in path[:-1]:
        if isinstance(current, tuple):  # a list index or dict key: step into the item type
            current = current[-1]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        if isinstance(part, int):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        current = _unwrap(info.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (list, dict, tuple, set):
        args = get_args(annotation)
        return (_unwrap(args[-1]),) if args else None
    if origin is not None:  # Optional / Union: first model among the arms
        for arm in get_args(annotation):
            got = _unwrap(arm)
            if got is not None and got is not type(None):
                return got
        return None
    return annotation


def _suggest(model: type[BaseModel] | None, path: PathKey) -> str:
    holder = _model_at(model, path)
    if holder is None:
        return ""
    allowed = [info.alias or name for name, info in holder.model_fields.items()]
    close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f" (allowed: {', '.join(sorted(allowed))}){hint}"


def parse_model(model: type[M], loc: Located, data: Any | None = None) -> M:
    """Validate ``loc.data`` (or ``data``) into ``model``; errors raise a located ConfigError."""
    try:
        return model.model_validate(loc.data if data is None else data)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(err, loc, model)) from None
