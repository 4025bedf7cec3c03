"""What the engine reads from (``DataSource``), what it returns, and child relationships."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from connector.emulator.schema import ObjectDef

__all__ = [
    "ChildRelationship",
    "DataSource",
    "ListableDataSource",
    "QueryResult",
    "child_relationships",
    "pluralise",
]


class DataSource(Protocol):
    """The org as the query engine sees it.

    A source may also implement ``objects() -> Iterable[str]`` (see
    :class:`ListableDataSource`): child subqueries ``(SELECT .. FROM Contacts)`` need it to
    find the objects that point at the queried one.
    """

    def describe(self, sobject: str) -> ObjectDef | None:
        """The object's definition; lookup by name is case-insensitive."""

    def records(self, sobject: str, include_deleted: bool) -> Iterable[dict[str, Any]]:
        """All rows of ``sobject`` keyed by exact API field names (Id, IsDeleted, ...)."""

    def get(self, record_id: str) -> dict[str, Any] | None:
        """Any record by its 18-character id (parent traversal)."""

    def sobject_of(self, record_id: str) -> str | None:
        """The object an id belongs to (polymorphic references)."""


@runtime_checkable
class ListableDataSource(Protocol):
    def objects(self) -> Iterable[str]:
        """The API names of every object in the org."""


@dataclass
class QueryResult:
    """Rows shaped as REST query JSON; ``total_size`` counts rows after LIMIT/OFFSET."""

    records: list[dict[str, Any]]
    total_size: int
    aggregate: bool


@dataclass(frozen=True)
class ChildRelationship:
    """``name`` on the parent, e.g. Opportunities -> (Opportunity, AccountId)."""

    name: str
    child_object: str
    field: str


def pluralise(word: str) -> str:
    """English plural of an object name (Opportunity -> Opportunities, Case -> Cases)."""
    lower = word.lower()
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    return word + "s"


def child_relationships(source: DataSource, sobject: str) -> dict[str, ChildRelationship]:
    """The child relationships of ``sobject`` keyed by lower-cased name.

    A standard reference field gives the pluralised child object name (Contact.AccountId ->
    ``Contacts``; a self reference gets a ``Child`` prefix, as ``ChildAccounts``); a custom
    lookup gives the pluralised child name with ``__r`` (Deal_Registration__c.Partner__c ->
    ``Deal_Registrations__r``). Empty when the source can't list its objects.
    """
    parent = source.describe(sobject)
    if parent is None or not isinstance(source, ListableDataSource):
        return {}
    target = parent.name.lower()
    found: dict[str, ChildRelationship] = {}
    for name in source.objects():
        child = source.describe(name)
        if child is None:
            continue
        for fdef in child.fields.values():
            if fdef.type != "reference" or not fdef.relationship_name:
                continue
            if target not in (t.lower() for t in fdef.reference_to):
                continue
            if fdef.custom or child.custom:
                base = child.name[:-3] if child.name.endswith("__c") else child.name
                rel = pluralise(base) + "__r"
            else:
                rel = pluralise(child.name)
                if child.name.lower() == target:
                    rel = "Child" + rel
            key = rel.lower()
            if key in found:  # a second lookup to the same parent: qualify by field
                rel = f"{rel[:-3] if rel.endswith('__r') else rel}{fdef.relationship_name}"
                key = rel.lower()
            found[key] = ChildRelationship(rel, child.name, fdef.name)
    return found
