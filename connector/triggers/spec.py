"""triggers.yaml as typed rules: what each rule watches, its condition and its actions.

```yaml
settings:
  fiscal_year_start_month: 1       # quarters for closed_won_* and once_per: quarter
  protection_window_days: 90       # deal registration conflicts
  downgrade_grace_days: 30         # a tier downgrade waits this long
triggers:
  - id: auto-approve-registration  # stable: part of firing keys
    entity: deal_registration
    on: [created, updated]         # or schedule: "0 2 * * *" (cron) with for_each: ENTITY
    scope: new.status == 'Submitted'   # optional entry condition
    when: partner.status == 'Active' && !conflict
    mode: on_true                  # or every_time
    stage: live                    # or dry_run: decide and record, act on nothing
    actions:
      - approve_registration: {reason: "Certified partner"}
    otherwise:
      - route_for_review: {reason: "Needs a channel manager"}
```

``connector.triggers.loader`` builds these from the file, reporting every mistake with its
file:line:col; the compiled conditions live on the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from connector.partners.actions import RuleSettings

if TYPE_CHECKING:
    from connector.partners.cel import Expression
    from connector.partners.env import RuleEnv

__all__ = [
    "EVENTS",
    "LIVE_SOURCES",
    "SEGMENT_EVENTS",
    "ActionSpec",
    "Mode",
    "Rule",
    "RuleSet",
    "Stage",
    "TriggerSettings",
]

Mode = Literal["on_true", "every_time"]
Stage = Literal["live", "dry_run"]
EVENTS = ("created", "updated", "deleted", "undeleted")
# Partner events from programs (connector.programs): the rule's ``segment:`` names which one.
SEGMENT_EVENTS = ("segment_entered", "segment_left")
# Changes that are business events by default; backfill and reconcile only when a rule opts in.
LIVE_SOURCES = ("poll", "push", "local")


@dataclass(frozen=True)
class ActionSpec:
    """One action as configured: its name, its parameters, compiled CEL parameters."""

    name: str
    params: dict[str, Any]
    expressions: dict[str, Expression] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Rule:
    """One trigger: an event (or a schedule), a condition and what to do either way."""

    id: str
    entity: str
    when: Expression
    scope: Expression | None = None  # entry condition: records outside it are not considered
    on: tuple[str, ...] = ()
    schedule: str | None = None
    mode: Mode = "on_true"
    stage: Stage = "live"
    enabled: bool = True
    order: int = 0
    sources: tuple[str, ...] = LIVE_SOURCES
    description: str = ""
    actions: tuple[ActionSpec, ...] = ()
    otherwise: tuple[ActionSpec, ...] = ()
    file: str = "triggers.yaml"
    line: int = 0
    segment: str | None = None  # segment_entered/left rules: the segment (None: any)

    @property
    def scheduled(self) -> bool:
        """True for a cron rule run over every record of its entity."""
        return self.schedule is not None

    def expressions(self) -> list[Expression]:
        """Every CEL expression of the rule: scope, when, action parameters."""
        out = [self.when] if self.scope is None else [self.scope, self.when]
        for action in (*self.actions, *self.otherwise):
            out += action.expressions.values()
        return out


# The ``settings:`` section (what actions and facts read: the partner layer's settings).
TriggerSettings = RuleSettings


@dataclass
class RuleSet:
    """A loaded triggers.yaml: settings and rules in evaluation order."""

    settings: TriggerSettings
    rules: list[Rule]
    file: str = "triggers.yaml"
    # what the rules were checked against and run with: facts, functions, actions
    env: RuleEnv = field(default_factory=lambda: _base_env(), compare=False, repr=False)

    def get(self, rule_id: str) -> Rule | None:
        """The rule named ``rule_id``, if any."""
        return next((r for r in self.rules if r.id == rule_id), None)

    def for_entity(self, entity: str) -> list[Rule]:
        """Enabled change rules of ``entity``, by ``order`` then file order."""
        return [r for r in self.rules if r.entity == entity and r.enabled and not r.scheduled]

    def scheduled(self) -> list[Rule]:
        """Enabled scheduled rules."""
        return [r for r in self.rules if r.enabled and r.scheduled]

    def entities(self) -> set[str]:
        """Entities some enabled change rule watches."""
        return {r.entity for r in self.rules if r.enabled and not r.scheduled}


def _base_env() -> RuleEnv:
    """The partner layer's environment without extensions (imported when first needed: the
    environment's catalogue reads the store)."""
    from connector.partners.env import RuleEnv

    return RuleEnv()
