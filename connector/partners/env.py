"""The rule environment: what rules and segments may read and do, built once per runtime.

``RuleEnv`` holds the partner fact catalogue, the CEL functions, the actions rules may name
(definition and executor), the segment names a rule's ``segment:`` may watch and the CEL
limits. Packages above contribute by *returning* an ``Extension`` (the plugin style of
datasette's hooks); nothing is registered into a module global, so two runtimes, or a
runtime reloaded after its files changed, never see each other's facts or actions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from connector.partners.actions import ActionDef
from connector.partners.cel import BASE_FUNCTIONS, DEFAULT_LIMITS, CelFunction, CelLimits
from connector.partners.facts import BASE_FACTS, FactCatalogue, FactGroup

__all__ = ["Extension", "RuleEnv"]


@dataclass(frozen=True)
class Extension:
    """What one package adds to a rule environment."""

    facts: tuple[FactGroup, ...] = ()
    functions: Mapping[str, CelFunction] = field(default_factory=dict)
    actions: Mapping[str, ActionDef] = field(default_factory=dict)
    segments: frozenset[str] | None = None


@dataclass(frozen=True)
class RuleEnv:
    """Facts, functions, actions and segment names, as one runtime sees them."""

    catalogue: FactCatalogue = BASE_FACTS
    functions: Mapping[str, CelFunction] = field(default_factory=lambda: dict(BASE_FUNCTIONS))
    actions: Mapping[str, ActionDef] = field(default_factory=dict)
    segments: frozenset[str] | None = None  # None: not checked (no programs.yaml)
    limits: CelLimits = DEFAULT_LIMITS

    def extended(self, *extensions: Extension) -> RuleEnv:
        """This environment with ``extensions`` added, in order (later ones win a name)."""
        env = self
        for ext in extensions:
            segments = env.segments
            if ext.segments is not None:
                segments = (segments or frozenset()) | ext.segments
            env = replace(
                env,
                catalogue=env.catalogue.extended(*ext.facts) if ext.facts else env.catalogue,
                functions={**env.functions, **ext.functions},
                actions={**env.actions, **ext.actions},
                segments=segments,
            )
        return env

    def callables(self) -> dict[str, Callable[..., Any]]:
        """Function name -> Python callable, for a ``cel.Context``."""
        return {n: f.fn for n, f in self.functions.items()}

    def function_reads(self, name: str) -> frozenset[str]:
        """The partner facts function ``name`` reads (what the bound partner map must hold)."""
        f = self.functions.get(name)
        return f.reads if f is not None else frozenset()
