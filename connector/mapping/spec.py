"""mapping.yaml: which sObjects and fields the PRM keeps, in which direction, typed how.

```yaml
version: 1
entities:
  partner:
    sobject: Account
    filter: "IsPartner = true"     # optional SOQL condition added to every poll
    key: Id                        # or the external id field of records we create
    fields:
      name: Name                   # short form: direction in, type str
      status: {crm: Partner_Status__c, direction: both}
      amount: {crm: Amount, type: float}
      partner: {crm: PartnerAccountId, lookup: partner}
```

``connector.mapping.loader.load_mapping`` builds these from the file, reporting every mistake at
once as a ``ConfigError`` with file:line:col.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from connector.errors import ConfigProblem
from connector.mapping.transforms import LocalType, Pipeline, Transform, build_pipeline
from connector.yamlconf import Located

__all__ = [
    "Conflict",
    "Direction",
    "EntityMapping",
    "FieldMapping",
    "MappingSpec",
]

Direction = Literal["in", "out", "both"]
Conflict = Literal["crm_wins", "prm_wins", "newest_wins"]
PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldMapping:
    """One local field and the Salesforce field it maps."""

    local: str
    crm: str
    direction: Direction = "in"
    transform: str | None = None  # the step names joined by " | " (None: by local type)
    values: Mapping[str, Any] | None = None  # picklist map, CRM value -> local value
    lookup: str | None = None  # target entity
    conflict: Conflict = "crm_wins"
    local_type: LocalType = "str"
    steps: tuple[Transform, ...] = ()
    pipeline: Pipeline = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pipeline", build_pipeline(self.steps, self.local_type))

    @property
    def inbound(self) -> bool:
        """Read from Salesforce (direction in or both)."""
        return self.direction != "out"

    @property
    def outbound(self) -> bool:
        """Written to Salesforce (direction out or both)."""
        return self.direction != "in"


# (local name, CRM name, picklist map, inbound converter, None stays None, field):
# EntityMapping.inbound_plan
InboundStep = tuple[
    str, str, "Mapping[str, Any] | None", Callable[[Any], Any], bool, FieldMapping
]


@dataclass(frozen=True)
class EntityMapping:
    """One local entity: an sObject, an optional filter, its key and its fields."""

    name: str
    sobject: str
    fields: dict[str, FieldMapping]
    key: str = "Id"
    filter: str | None = None

    @cached_property
    def inbound_plan(self) -> tuple[InboundStep, ...]:
        """Per ``in``/``both`` field: local name, CRM name, picklist map, its inbound converter,
        whether None skips the converter, and the field (computed once: ``to_local`` runs it
        for every row of a load)."""
        return tuple(
            (f.local, f.crm, f.values, *f.pipeline.local_converter, f)
            for f in self.fields.values()
            if f.inbound
        )

    def inbound_fields(self) -> list[str]:
        """CRM names to SELECT: the ``in`` and ``both`` fields, in file order."""
        return [f.crm for f in self.fields.values() if f.inbound]

    def outbound_fields(self) -> list[str]:
        """CRM names the connector writes: the ``out`` and ``both`` fields."""
        return [f.crm for f in self.fields.values() if f.outbound]

    def lookups(self) -> dict[str, str]:
        """Local field -> target entity, for every lookup field."""
        return {f.local: f.lookup for f in self.fields.values() if f.lookup is not None}

    def field_for_crm(self, crm: str) -> FieldMapping | None:
        """The field mapping ``crm`` (Salesforce names are case-insensitive)."""
        wanted = crm.lower()
        return next((f for f in self.fields.values() if f.crm.lower() == wanted), None)


@dataclass
class MappingSpec:
    """A loaded mapping.yaml: entities in dependency order (lookup targets first)."""

    entities: dict[str, EntityMapping]
    file: str = "mapping.yaml"
    located: Located | None = field(default=None, compare=False, repr=False)

    def entity_for_sobject(self, name: str) -> EntityMapping | None:
        """The entity mapping sObject ``name`` (case-insensitive), if any."""
        wanted = name.lower()
        return next((e for e in self.entities.values() if e.sobject.lower() == wanted), None)

    def locate(self, entity: str, field: str | None = None) -> tuple[str, int, int]:
        """File, line and column of an entity's (or one of its fields') key in mapping.yaml."""
        path: PathKey = ("entities", entity) if field is None else (
            "entities", entity, "fields", field)
        if self.located is None:
            return (self.file, 1, 1)
        return (self.file, *self.located.where(path, key=True))

    def problem(
        self, message: str, entity: str, field: str | None = None, *at: str | int,
        key: bool = False,
    ) -> ConfigProblem:
        """A problem at an entity, a field, or one of their options (``at``: a key path).

        With no ``at`` it points at the entity's or field's key; else at the option's value
        (``key=True``: at the option's key).
        """
        path: PathKey = ("entities", entity)
        if field is not None:
            path = (*path, "fields", field)
        path = (*path, *at)
        if self.located is None:
            return ConfigProblem(self.file, 1, 1, message)
        return self.located.problem(path, message, key=key or not at)
