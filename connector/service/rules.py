"""The rule environment of one runtime: built once, rebuilt whole when a file changes.

``build_rules`` loads programs.yaml (when configured), asks programs for its ``Extension``
(facts, actions, segment names: returned, never registered into a global), builds the
partner layer's ``RuleEnv`` from it and loads triggers.yaml against that. Everything that
evaluates rules or ladders in the runtime (the programs and triggers stages, scheduled rules,
the daemon) reads this one object, so they agree on the facts, the actions and the fiscal
calendar; ``RulesEnvironment.changed`` tells the daemon when to build a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.mapping import MappingSpec
    from connector.partners.env import RuleEnv
    from connector.programs.spec import ProgramsSpec
    from connector.settings import Settings
    from connector.triggers.spec import RuleSet

__all__ = ["RulesEnvironment", "build_rules"]

Stamp = tuple[str, int, int]  # (path, mtime_ns, size); -1s when the file is missing


def _stamp(path: Path) -> Stamp:
    try:
        st = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), st.st_mtime_ns, st.st_size)


@dataclass(frozen=True)
class RulesEnvironment:
    """Facts, functions, actions, segment names, fiscal calendar and the loaded rule files."""

    env: RuleEnv
    rules: RuleSet
    programs: ProgramsSpec | None
    stamps: tuple[Stamp, ...] = ()

    @property
    def fiscal_year_start_month(self) -> int:
        """The month the fiscal year starts in (triggers.yaml's settings): ladders, segments
        and rules all count quarters from it."""
        return self.rules.settings.fiscal_year_start_month

    def current_stamps(self) -> tuple[Stamp, ...]:
        """The stamps its files have now."""
        return tuple(_stamp(Path(p)) for p, _, _ in self.stamps)

    def changed(self) -> bool:
        """Whether a file it was built from changed since (or appeared, or went)."""
        return self.current_stamps() != self.stamps


def build_rules(settings: Settings, mapping: MappingSpec) -> RulesEnvironment:
    """Load programs.yaml and triggers.yaml into one environment. The problems of both files
    are raised together (``ConfigError``: exit 2); triggers.yaml is still checked when
    programs.yaml is broken (against the environment without it)."""
    from connector.errors import ConfigError
    from connector.partners.env import RuleEnv
    from connector.programs import load_programs
    from connector.programs.hooks import extension
    from connector.triggers.loader import load_triggers

    paths = [settings.triggers_path]
    if settings.programs_path is not None:
        paths.append(settings.programs_path)
    stamps = tuple(_stamp(p) for p in paths)  # before reading: an edit meanwhile reloads
    problems = []
    programs = None
    try:  # before the rules: they may read the facts and name the actions programs adds
        if settings.programs_path is not None:
            programs = load_programs(settings.programs_path)
    except ConfigError as err:
        problems += err.problems
    env = RuleEnv().extended(extension(programs))
    try:
        rules = load_triggers(settings.triggers_path, mapping, env=env)
    except ConfigError as err:
        problems += err.problems
    if problems:
        raise ConfigError(problems)
    if programs is not None:  # programs.yaml counts the rules' quarters
        programs = replace(programs,
                           fiscal_year_start_month=rules.settings.fiscal_year_start_month)
    return RulesEnvironment(env, rules, programs, stamps)
