"""The emulated org's default schema: standard objects plus the ``salesforce/`` metadata.

Key prefixes are Salesforce's where known (User 005, Organization 00D, Account 001, Contact 003,
Opportunity 006, Task 00T); the channel objects get plausible unique prefixes.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from connector.emulator.metadata import load_custom, metadata_root, owner_field, system_fields
from connector.emulator.schema import FieldDef, ObjectDef, PicklistValue

__all__ = ["OPPORTUNITY_STAGES", "build_schema", "compute_formulas"]

# The ten stages a new org ships with, in order.
OPPORTUNITY_STAGES = (
    "Prospecting", "Qualification", "Needs Analysis", "Value Proposition",
    "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote",
    "Negotiation/Review", "Closed Won", "Closed Lost",
)
CLOSED_STAGES = ("Closed Won", "Closed Lost")
TASK_SUBJECTS = ("Call", "Send Letter", "Send Quote", "Other")
LEAD_STATUSES = (
    "Open - Not Contacted", "Working - Contacted", "Closed - Converted",
    "Closed - Not Converted",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
MDF_BUDGET_TYPES = ("Co-Operated Budget", "Marketing Funds")
FUND_REQUEST_STATUSES = ("Draft", "Submitted", "Approved", "Rejected")
ACCOUNT_TYPES = (
    "Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
    "Installation Partner", "Technology Partner", "Other",
)
# The 32 values a new org ships with, in the order describe lists them.
INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government",
    "Healthcare", "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media",
    "Not For Profit", "Other", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities",
)
# Organization.OrganizationType (labelled Edition), as the Object Reference lists them.
EDITIONS = (
    "Team Edition", "Professional Edition", "Enterprise Edition", "Developer Edition",
    "Personal Edition", "Unlimited Edition", "Contact Manager Edition", "Base Edition",
)
TASK_WHAT = (
    "Account", "Opportunity", "ChannelProgram", "PartnerMarketingBudget",
    "PartnerFundAllocation", "PartnerFundRequest", "Deal_Registration__c",
    "Partner_Certification__c",
)


def _label(name: str) -> str:
    if name.endswith("Id") and len(name) > 2:
        return _label(name[:-2]) + " ID"
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)


def _pick(values: tuple[str, ...], default: str | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(v, v, True, v == default) for v in values)


def _string(name: str, length: int = 255, *, required: bool = False, **kw: Any) -> FieldDef:
    return FieldDef(name, "string", label=_label(name), length=length, nillable=not required,
                    **kw)


def _f(name: str, type_: str, **kw: Any) -> FieldDef:
    kw.setdefault("label", _label(name))
    if type_ == "boolean":
        kw.setdefault("nillable", False)
        kw.setdefault("default_on_create", True)
        kw.setdefault("default_value", False)
    return FieldDef(name, type_, **kw)


def _ref(name: str, to: str | tuple[str, ...], rel: str, *, required: bool = False,
         **kw: Any) -> FieldDef:
    targets = (to,) if isinstance(to, str) else to
    return FieldDef(name, "reference", label=_label(name), length=18, reference_to=targets,
                    relationship_name=rel, nillable=not required, **kw)


def _money(name: str, precision: int = 18, scale: int = 2, *, kind: str = "currency",
           **kw: Any) -> FieldDef:
    kw.setdefault("label", _label(name))
    return FieldDef(name, kind, precision=precision, scale=scale, **kw)


def _picklist(name: str, values: tuple[str, ...], default: str | None = None, *,
              required: bool = False, restricted: bool = False) -> FieldDef:
    return FieldDef(name, "picklist", label=_label(name), length=255,
                    picklist_values=_pick(values, default), restricted_picklist=restricted,
                    nillable=not required, default_value=default,
                    default_on_create=default is not None)


def _textarea(name: str, length: int = 32000) -> FieldDef:
    return FieldDef(name, "textarea", label=_label(name), length=length)


def _readonly(fd: FieldDef) -> FieldDef:
    return replace(fd, createable=False, updateable=False)


def _standard() -> list[tuple[str, str, str, str, list[FieldDef], bool]]:
    """(name, key prefix, label, plural label, fields, has owner) per standard object."""
    return [
        ("User", "005", "User", "Users", [
            _string("Username", 80, required=True, unique=True, id_lookup=True),
            _string("FirstName", 40),
            _string("LastName", 80, required=True),
            _readonly(_string("Name", 121, required=True)),
            FieldDef("Email", "email", label="Email", length=128, nillable=False),
            _string("Alias", 8),
            _f("IsActive", "boolean", default_value=True),
            # a partner (portal) user's contact, and its account (derived from the contact)
            _ref("ContactId", "Contact", "Contact"),
            _readonly(_ref("AccountId", "Account", "Account")),
        ], False),
        # Read-only (the object is): what the Salesforce CLI asks of every org it uses
        # (sandbox, scratch org, namespace) besides the name.
        ("Organization", "00D", "Organization", "Organizations", [
            _string("Name", 80, required=True),
            _string("InstanceName", 5),
            _f("IsSandbox", "boolean"),
            FieldDef("OrganizationType", "picklist", label="Edition", length=40,
                     picklist_values=_pick(EDITIONS), restricted_picklist=True),
            _string("NamespacePrefix", 15),
            _f("TrialExpirationDate", "datetime"),
        ], False),
        ("Account", "001", "Account", "Accounts", [
            # Not an idLookup in real orgs (describe says false): upsert cannot key on it.
            _string("Name", 255, required=True),
            # Update only: an account becomes a partner after it exists ("Enable as Partner").
            _f("IsPartner", "boolean", label="Partner Account", createable=False),
            FieldDef("Website", "url", label="Website", length=255),
            _picklist("Type", ACCOUNT_TYPES),
            _picklist("Industry", INDUSTRIES),
            _string("BillingCountry", 80),
            _ref("ParentId", "Account", "Parent"),
        ], True),
        ("Contact", "003", "Contact", "Contacts", [
            _string("FirstName", 40),
            _string("LastName", 80, required=True),
            _readonly(_string("Name", 121, required=True, id_lookup=True,
                              default_on_create=True)),
            FieldDef("Email", "email", label="Email", length=80, id_lookup=True),
            _ref("AccountId", "Account", "Account"),
        ], True),
        ("Opportunity", "006", "Opportunity", "Opportunities", [
            _string("Name", 120, required=True, id_lookup=True),
            _ref("AccountId", "Account", "Account"),
            _ref("PartnerAccountId", "Account", "PartnerAccount"),
            _money("Amount", 18, 2),
            _picklist("StageName", OPPORTUNITY_STAGES, required=True),
            _f("CloseDate", "date", nillable=False),
            # Read-only, set by the org from the stage; describe does not call them calculated.
            _f("IsClosed", "boolean", label="Closed", createable=False, updateable=False,
               default_on_create=True),
            _f("IsWon", "boolean", label="Won", createable=False, updateable=False,
               default_on_create=True),
            _money("Probability", 3, 0, kind="percent", label="Probability (%)"),
        ], True),
        ("Lead", "00Q", "Lead", "Leads", [
            _string("FirstName", 40),
            _string("LastName", 80, required=True),
            _readonly(_string("Name", 121, required=True, id_lookup=True,
                              default_on_create=True)),
            _string("Company", 255, required=True),
            FieldDef("Email", "email", label="Email", length=80, id_lookup=True),
            _string("Title", 128),
            _picklist("Status", LEAD_STATUSES, "Open - Not Contacted", required=True),
            _picklist("LeadSource", LEAD_SOURCES),
            _picklist("Industry", INDUSTRIES),
            _string("Country", 80),
            _ref("PartnerAccountId", "Account", "PartnerAccount"),
            _f("IsConverted", "boolean", label="Converted", updateable=False),
            _readonly(_ref("ConvertedAccountId", "Account", "ConvertedAccount")),
            _readonly(_ref("ConvertedOpportunityId", "Opportunity", "ConvertedOpportunity")),
        ], True),
        ("Task", "00T", "Task", "Tasks", [
            FieldDef("Subject", "combobox", label="Subject", length=255,
                     picklist_values=_pick(TASK_SUBJECTS)),
            _f("ActivityDate", "date", label="Due Date Only"),
            _picklist("Status", ("Not Started", "In Progress", "Completed"), "Not Started",
                      required=True),
            _picklist("Priority", ("High", "Normal", "Low"), "Normal", required=True),
            _ref("WhatId", TASK_WHAT, "What"),
            _ref("WhoId", ("Contact", "Lead"), "Who"),
            _textarea("Description", 32000),
        ], True),
        ("ChannelProgram", "0ch", "Channel Program", "Channel Programs", [
            _string("Name", 255, required=True, id_lookup=True),
            _f("IsActive", "boolean", label="Active"),
            _textarea("Description", 1000),
        ], False),
        # ProgramId is the master-detail parent: required and not reparentable (no Update).
        ("ChannelProgramLevel", "0ci", "Channel Program Level", "Channel Program Levels", [
            _string("Name", 255, required=True, id_lookup=True),
            _ref("ProgramId", "ChannelProgram", "Program", required=True, updateable=False),
            _f("Rank", "int"),
            _textarea("Description", 255),
        ], True),
        ("ChannelProgramMember", "0cj", "Channel Program Member", "Channel Program Members", [
            # An auto number: the org names the member.
            _readonly(_string("Name", 80, required=True, id_lookup=True,
                              default_on_create=True, auto_number=True)),
            _ref("PartnerId", "Account", "Partner", required=True),
            _ref("ProgramId", "ChannelProgram", "Program", required=True, updateable=False),
            _ref("LevelId", "ChannelProgramLevel", "Level"),
        ], True),
        # Who holds what: readable by every user, assigned (created, deleted) by the admin.
        ("PermissionSet", "0PS", "Permission Set", "Permission Sets", [
            _string("Name", 80, required=True, unique=True, id_lookup=True),
            _string("Label", 80, required=True),
            _textarea("Description", 255),
            _f("IsOwnedByProfile", "boolean", label="Is Owned By Profile", createable=False,
               updateable=False),
        ], False),
        ("PermissionSetAssignment", "0Pa", "Permission Set Assignment",
         "Permission Set Assignments", [
            _ref("AssigneeId", "User", "Assignee", required=True, updateable=False),
            _ref("PermissionSetId", "PermissionSet", "PermissionSet", required=True,
                 updateable=False),
        ], False),
        ("PartnerMarketingBudget", "0ZG", "Partner Marketing Budget",
         "Partner Marketing Budgets", [
            _string("Title", 255, required=True),
            _money("Amount", 18, 2, nillable=False),
            _picklist("Type", MDF_BUDGET_TYPES, required=True, restricted=True),
            _f("StartDate", "date"),
            _f("EndDate", "date"),
            _ref("ChannelPartnerId", "Account", "ChannelPartner"),
            _textarea("Description", 255),
        ], True),
        ("PartnerFundAllocation", "0ZH", "Partner Fund Allocation",
         "Partner Fund Allocations", [
            _string("Title", 255, required=True, id_lookup=True),
            _ref("BudgetId", "PartnerMarketingBudget", "Budget", required=True),
            _ref("ChannelPartnerId", "Account", "ChannelPartner"),
            _money("Amount", 18, 2, nillable=False),
            _textarea("Description", 255),
        ], True),
        ("PartnerFundRequest", "0ZI", "Partner Fund Request", "Partner Fund Requests", [
            _string("Title", 255, required=True),
            _ref("ChannelPartnerId", "Account", "ChannelPartner"),
            _ref("BudgetId", "PartnerMarketingBudget", "Budget"),
            _ref("AllocationId", "PartnerFundAllocation", "Allocation"),
            _money("RequestedAmount", 18, 2),
            _money("Amount", 18, 2),
            _picklist("Status", FUND_REQUEST_STATUSES, "Draft", restricted=True),
            _textarea("Description", 255),
        ], True),
    ]


def build_schema(root: Path | None = None) -> dict[str, ObjectDef]:
    """Every sObject of the default org by name: standard objects + custom metadata."""
    schema: dict[str, ObjectDef] = {}
    for name, prefix, label, plural, fields, owned in _standard():
        all_fields = system_fields()
        for fd in fields:
            all_fields[fd.name] = fd
        if owned:
            all_fields["OwnerId"] = owner_field()
        obj = ObjectDef(name, prefix, label=label, label_plural=plural, fields=all_fields)
        if name == "Organization":
            obj.createable = obj.updateable = obj.deletable = False
        schema[name] = obj
    custom_objects, custom_fields = load_custom(root if root is not None else metadata_root())
    for obj_name, extra in custom_fields.items():
        target = schema.get(obj_name)
        if target is None:
            raise ValueError(f"custom fields for unknown standard object {obj_name}")
        for fd in extra:
            target.fields[fd.name] = fd
    for name, obj in custom_objects.items():
        if name in schema:
            raise ValueError(f"custom object {name} clashes with a standard object")
        schema[name] = obj
    prefixes = [o.key_prefix for o in schema.values()]
    if len(set(prefixes)) != len(prefixes):
        raise ValueError("duplicate key prefixes in the schema")
    return schema


def compute_formulas(obj: ObjectDef, record: dict[str, Any]) -> None:
    """Recompute the fields the org derives in place: Opportunity IsClosed/IsWon from the
    stage; the Name of a Contact or Lead from its first and last names."""
    if obj.name in ("Contact", "Lead"):
        parts = (record.get("FirstName"), record.get("LastName"))
        record["Name"] = " ".join(p for p in parts if p) or None
    if obj.name == "Opportunity":
        stage = record.get("StageName")
        record["IsClosed"] = stage in CLOSED_STAGES
        record["IsWon"] = stage == "Closed Won"
