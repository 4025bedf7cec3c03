"""The emulator's schema model: objects and fields with Salesforce's describe properties.

Values held in records use one internal representation everywhere in the emulator:
``str`` for id/string/textarea/picklist/reference/email/url/phone, ``float`` for
double/currency/percent, ``int`` for int, ``bool`` for boolean, ``None`` for null,
``"YYYY-MM-DD"`` for date and ``"YYYY-MM-DDTHH:MM:SS.fff+0000"`` (always UTC) for datetime,
so string order equals instant order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FieldDef", "FieldType", "ObjectDef", "PicklistValue"]

FieldType = str  # one of: id string textarea boolean double currency percent int date
# datetime picklist multipicklist reference email url phone


@dataclass(frozen=True)
class PicklistValue:
    value: str
    label: str | None = None
    active: bool = True
    default: bool = False


@dataclass(frozen=True)
class FieldDef:
    """One field as ``sobjects/X/describe`` reports it."""

    name: str
    type: FieldType
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    calculated: bool = False
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    auto_number: bool = False  # the org numbers new records: 0000000001, 0000000002, ...
    default_on_create: bool = False
    picklist_values: tuple[PicklistValue, ...] = ()
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    custom: bool = False
    formula: str | None = None  # calculated fields: a Python-evaluable description, see org
    default_value: object = None

    @property
    def required_on_create(self) -> bool:
        """True when a create must name this field (not nillable, createable, no default)."""
        return (
            not self.nillable
            and self.createable
            and not self.default_on_create
            and self.type != "boolean"
        )


@dataclass
class ObjectDef:
    """One sObject: its key prefix, fields by name and flags for the global describe."""

    name: str
    key_prefix: str
    label: str = ""
    label_plural: str = ""
    custom: bool = False
    fields: dict[str, FieldDef] = field(default_factory=dict)
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    replicateable: bool = True
    # the metadata's sharingModel: a portal user reads the records of a Private object that
    # look up to its own account, and no other (see Org.visible)
    sharing_model: str = "ReadWrite"

    def field(self, name: str) -> FieldDef | None:
        """Case-insensitive field lookup, as Salesforce resolves API names."""
        found = self.fields.get(name)
        if found is not None:
            return found
        return self._lower().get(name.lower())

    def _lower(self) -> dict[str, FieldDef]:
        cache: dict[str, FieldDef] | None = self.__dict__.get("_lower_cache")
        if cache is None or len(cache) != len(self.fields):
            cache = {k.lower(): v for k, v in self.fields.items()}
            self.__dict__["_lower_cache"] = cache
        return cache

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationshipName is ``name`` (case-insensitive)."""
        lname = name.lower()
        for f in self.fields.values():
            if f.relationship_name and f.relationship_name.lower() == lname:
                return f
        return None
