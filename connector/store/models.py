"""One SQLModel table per PRM entity of docs/model.md, plus helpers describing their columns.

Every business column is nullable: a lookup to a record not loaded yet inserts a placeholder
row holding only its ``sf_id``, and the real row fills it in later. Lookups are integer foreign
keys to the target table's ``id``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    false,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from connector.store.customer import DERIVED_COLUMNS
from connector.store.types import JSONValue, UTCDateTime, utcnow

__all__ = [
    "COMMON_COLUMNS",
    "ENTITY_MODELS",
    "Certification",
    "CustomRecord",
    "Deal",
    "DealRegistration",
    "Eligibility",
    "EntityBase",
    "Level",
    "MdfAllocation",
    "MdfBudget",
    "MdfRequest",
    "Membership",
    "Partner",
    "Program",
    "Task",
    "column_types",
    "entity_table",
    "lookup_targets",
]

COMMON_COLUMNS = frozenset(
    {
        "id",
        "sf_id",
        "sf_modstamp",
        "sf_last_modified_by",
        "is_deleted",
        "extra",
        "created_at",
        "updated_at",
    }
)


def _lookup(target: str) -> Any:
    """A nullable, indexed foreign key to ``target``'s local id."""
    return Field(default=None, foreign_key=f"{target}.id", index=True)


def _external_key() -> Any:
    """PRM_Key__c: the external id we upsert by, unique when set."""
    return Field(default=None, unique=True, index=True)


class EntityBase(SQLModel):
    """The columns every entity table has (docs/model.md)."""

    id: int | None = Field(default=None, primary_key=True)
    sf_id: str | None = Field(default=None, unique=True, index=True)
    sf_modstamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sf_last_modified_by: str | None = None
    is_deleted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSONValue())
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow}
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow}
    )


class Partner(EntityBase, table=True):
    """A partner Account (IsPartner = true)."""

    __tablename__ = "partner"
    name: str | None = None
    is_partner: bool | None = None
    status: str | None = None
    agreement_signed_date: date | None = None
    channel_manager: str | None = None
    website: str | None = None
    certifications: float | None = None
    points: float | None = None
    tier: str | None = None
    # added by 0009_partner_facts, which appends them: declared last so a fresh store (created
    # from these models) has the column order an upgraded one has
    partner_type: str | None = None
    billing_country: str | None = None
    industry: str | None = None
    # added by 0015_portal (declared last, as above): the segments, ';'-joined in name order
    segments: str | None = None


class Program(EntityBase, table=True):
    """A ChannelProgram."""

    __tablename__ = "program"
    name: str | None = None
    is_active: bool | None = None
    description: str | None = None


class Level(EntityBase, table=True):
    """A ChannelProgramLevel (tier) of a program, ordered by rank."""

    __tablename__ = "level"
    name: str | None = None
    program: int | None = _lookup("program")
    rank: float | None = None


class Membership(EntityBase, table=True):
    """A ChannelProgramMember: a partner's level in a program."""

    __tablename__ = "membership"
    partner: int | None = _lookup("partner")
    program: int | None = _lookup("program")
    level: int | None = _lookup("level")


class Deal(EntityBase, table=True):
    """An Opportunity, with the partner that brought it."""

    __tablename__ = "deal"
    name: str | None = None
    account: str | None = None
    partner: int | None = _lookup("partner")
    amount: float | None = None
    stage: str | None = None
    close_date: date | None = None
    is_closed: bool | None = None
    is_won: bool | None = None


class DealRegistration(EntityBase, table=True):
    """A Deal_Registration__c."""

    __tablename__ = "deal_registration"
    name: str | None = None
    partner: int | None = _lookup("partner")
    end_customer_name: str | None = None
    end_customer_domain: str | None = None
    product: str | None = None
    amount: float | None = None
    status: str | None = None
    decision_reason: str | None = None
    registered_date: date | None = None
    expiration_date: date | None = None
    # added by 0012_robust (declared last, as it appends them): the end customer's normalised
    # name and domain, derived by every writer (store/customer.py) for the indexed conflict
    # check; not business fields (column_types leaves them out)
    customer_name_key: str | None = Field(default=None, index=True)
    customer_domain_key: str | None = Field(default=None, index=True)


class Certification(EntityBase, table=True):
    """A Partner_Certification__c."""

    __tablename__ = "certification"
    name: str | None = None
    partner: int | None = _lookup("partner")
    completed_date: date | None = None
    prm_key: str | None = _external_key()


class Eligibility(EntityBase, table=True):
    """A Partner_Eligibility__c: a program, track or incentive a partner qualifies for."""

    __tablename__ = "eligibility"
    name: str | None = None
    partner: int | None = _lookup("partner")
    kind: str | None = None
    key: str | None = None
    why: str | None = None
    since: date | None = None
    prm_key: str | None = _external_key()


class MdfBudget(EntityBase, table=True):
    """A PartnerMarketingBudget."""

    __tablename__ = "mdf_budget"
    title: str | None = None
    amount: float | None = None
    type: str | None = None
    start_date: date | None = None
    end_date: date | None = None


class MdfAllocation(EntityBase, table=True):
    """A PartnerFundAllocation: MDF released to a partner from a budget."""

    __tablename__ = "mdf_allocation"
    title: str | None = None
    budget: int | None = _lookup("mdf_budget")
    partner: int | None = _lookup("partner")
    amount: float | None = None
    prm_key: str | None = _external_key()


class MdfRequest(EntityBase, table=True):
    """A PartnerFundRequest."""

    __tablename__ = "mdf_request"
    title: str | None = None
    partner: int | None = _lookup("partner")
    budget: int | None = _lookup("mdf_budget")
    allocation: int | None = _lookup("mdf_allocation")
    requested_amount: float | None = None
    amount: float | None = None
    status: str | None = None


class Task(EntityBase, table=True):
    """A Task (follow-ups the connector creates for channel managers)."""

    __tablename__ = "task"
    subject: str | None = None
    activity_date: date | None = None
    status: str | None = None
    priority: str | None = None
    what: str | None = None
    owner: str | None = None
    description: str | None = None
    prm_key: str | None = _external_key()


class CustomRecord(SQLModel, table=True):
    """A record of an entity mapping.yaml adds that has no table of its own (docs/model.md).

    One generic table holds every admin-defined entity (a Contact, a Lead, a custom object):
    ``entity`` names it, ``values`` holds its mapped fields as JSON (dates as ISO text; a
    lookup as the target's local id), the system columns are those of every entity table.
    """

    __tablename__ = "custom_record"
    __table_args__ = (
        UniqueConstraint("entity", "sf_id", name="uq_custom_record_entity_sf_id"),
        Index("ix_custom_record_entity_id", "entity", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    entity: str = Field(nullable=False)
    sf_id: str | None = None
    sf_modstamp: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sf_last_modified_by: str | None = None
    is_deleted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    values: dict[str, Any] | None = Field(default=None, sa_type=JSONValue())
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow}
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"default": utcnow}
    )


ENTITY_MODELS: dict[str, type[SQLModel]] = {
    "partner": Partner,
    "program": Program,
    "level": Level,
    "membership": Membership,
    "deal": Deal,
    "deal_registration": DealRegistration,
    "certification": Certification,
    "eligibility": Eligibility,
    "mdf_budget": MdfBudget,
    "mdf_allocation": MdfAllocation,
    "mdf_request": MdfRequest,
    "task": Task,
}


def entity_table(entity: str) -> Table:
    """The Core table of ``entity``; KeyError names the known entities."""
    if entity not in ENTITY_MODELS:
        raise KeyError(f"unknown entity '{entity}' (known: {', '.join(ENTITY_MODELS)})")
    return SQLModel.metadata.tables[entity]


def lookup_targets(entity: str) -> dict[str, str]:
    """Lookup columns of ``entity`` -> the entity they point at."""
    out: dict[str, str] = {}
    for col in entity_table(entity).columns:
        for fk in col.foreign_keys:
            out[col.name] = fk.column.table.name
    return out


def _type_name(col_type: Any) -> str:
    if isinstance(col_type, TypeDecorator):  # AutoString, UTCDateTime
        col_type = col_type.impl_instance
    for sa_type, name in (
        (Boolean, "bool"),
        (DateTime, "datetime"),
        (Date, "date"),
        (Float, "float"),
        (Integer, "int"),
        (String, "str"),
    ):
        if isinstance(col_type, sa_type):
            return name
    raise TypeError(f"no local type for column type {col_type!r}")


def column_types(entity: str) -> dict[str, str]:
    """Business columns of ``entity`` -> local type name (str|bool|float|int|date|lookup);
    derived columns (``store.customer.DERIVED_COLUMNS``) are not business columns."""
    lookups = lookup_targets(entity)
    derived = DERIVED_COLUMNS.get(entity, {})
    out: dict[str, str] = {}
    for col in entity_table(entity).columns:
        if col.name in COMMON_COLUMNS or col.name in derived:
            continue
        out[col.name] = "lookup" if col.name in lookups else _type_name(col.type)
    return out
