"""``composite/tree/{sObject}``: create a tree of records (parents with their children) at once.

As the REST guide documents it ("sObject Tree"): up to 200 records in all and five levels
deep; each record names its ``attributes.type`` and a unique ``attributes.referenceId``;
children sit under the parent's child relationship name (``{"Contacts": {"records": [...]}}``)
and get the parent's id in that relationship's field. Success answers 201 with
``{"hasErrors": false, "results": [{"referenceId", "id"}]}``; any failure rolls every record
back and answers 400 with the failed records' errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.emulator.describe import child_relationships
from connector.emulator.errors import ApiError

if TYPE_CHECKING:
    from connector.emulator.org import Org

__all__ = ["MAX_DEPTH", "MAX_RECORDS", "create_tree"]

MAX_RECORDS = 200
MAX_DEPTH = 5


class _Failed(Exception):
    def __init__(self, reference: str, err: ApiError) -> None:
        super().__init__(err.message)
        self.reference = reference
        self.err = err


def _count(records: list[Any], depth: int) -> int:
    if depth > MAX_DEPTH:
        raise ApiError(400, "INVALID_INPUT", f"a tree may be at most {MAX_DEPTH} levels deep")
    total = 0
    for rec in records:
        if not isinstance(rec, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
        total += 1
        for value in rec.values():
            if isinstance(value, dict) and isinstance(value.get("records"), list):
                total += _count(value["records"], depth + 1)
    return total


def create_tree(org: Org, sobject: str, body: Any, user: str) -> tuple[int, dict[str, Any]]:
    """(status, body) for ``POST composite/tree/{sobject}``."""
    root = org.object_or_404(sobject)
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise ApiError(400, "JSON_PARSER_ERROR", "records is required")
    if _count(records, 1) > MAX_RECORDS:
        raise ApiError(400, "INVALID_INPUT", f"a tree holds at most {MAX_RECORDS} records")
    results: list[dict[str, str]] = []
    seen: set[str] = set()

    def insert(rec: dict[str, Any], expected: str, parent: tuple[str, str] | None) -> None:
        raw_attrs = rec.get("attributes")
        attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
        ref = str(attrs.get("referenceId") or "")
        try:
            if not ref or ref in seen:
                raise ApiError(400, "INVALID_INPUT", "each record needs a unique referenceId")
            seen.add(ref)
            obj = org.object_or_404(str(attrs.get("type") or expected))
            if obj.name != expected:
                raise ApiError(400, "INVALID_INPUT", f"expected a {expected} record here")
            relations = {
                str(c["relationshipName"]).lower(): c
                for c in child_relationships(obj, org.schema) if c["relationshipName"]
            }
            values: dict[str, Any] = {}
            children: list[tuple[dict[str, Any], list[Any]]] = []
            for key, value in rec.items():
                if key == "attributes":
                    continue
                if isinstance(value, dict) and "records" in value:
                    rel = relations.get(key.lower())
                    if rel is None:
                        raise ApiError(400, "INVALID_FIELD",
                                       f"No such relationship '{key}' on {obj.name}")
                    children.append((rel, value["records"]))
                    continue
                values[key] = value
            if parent is not None:
                values[parent[0]] = parent[1]
            rid = org.create(obj.name, values, user)
        except ApiError as err:
            raise _Failed(ref, err) from None
        results.append({"referenceId": ref, "id": rid})
        for rel, kids in children:
            for kid in kids:
                insert(kid, str(rel["childSObject"]), (str(rel["field"]), rid))

    try:
        with org.atomic():
            for rec in records:
                insert(rec, root.name, None)
    except _Failed as failed:
        return 400, {"hasErrors": True, "results": [
            {"referenceId": failed.reference, "errors": [failed.err.collection_error()]}]}
    return 201, {"hasErrors": False, "results": results}
