"""Naming rules shared by the mapping: local snake_case names and "did you mean" hints."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

__all__ = [
    "API_NAME",
    "PARTNER_REFERENCES",
    "SNAKE_CASE",
    "did_you_mean",
    "entity_name_for",
    "local_name_for",
    "snake_case",
]

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# References to the partner Account are always called ``partner`` locally (docs/model.md).
PARTNER_REFERENCES = frozenset({"PartnerAccountId", "Partner__c", "ChannelPartnerId", "PartnerId"})


def snake_case(name: str) -> str:
    """``End_Customer_Name`` -> ``end_customer_name``, ``IsWon`` -> ``is_won``."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"_+", "_", text).strip("_").lower()


def local_name_for(crm: str) -> str:
    """The contract's local name of a Salesforce field: snake_case without ``__c`` or ``Id``."""
    if crm in PARTNER_REFERENCES:
        return "partner"
    base = crm[:-3] if crm.endswith("__c") else crm
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2]
    return snake_case(base) or snake_case(crm)


def entity_name_for(sobject: str) -> str:
    """The local entity name of an sObject: snake_case without ``__c``."""
    return snake_case(sobject[:-3] if sobject.endswith("__c") else sobject)


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, compared case-insensitively, else ``""``."""
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean '{by_lower[close[0]]}'?)" if close else ""
