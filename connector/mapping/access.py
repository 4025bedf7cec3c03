"""What the integration user may not read or edit, said with the fix (pure: no HTTP).

In a real org a deployed custom field or object is invisible to a user until a profile or
permission set grants it: the org then answers as if it did not exist (absent from describe,
INVALID_FIELD or INVALID_TYPE in SOQL). ``salesforce/`` ships the permission set
``PRM_Connector_Integration`` granting what the default mapping needs. ``check`` (against the
describe) and ``sync`` (on a query the org refuses) both say what is missing with the same
one-line fix: assign the set to the user, or add the grant to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.errors import ConnectorError

__all__ = ["PERMISSION_SET", "Access", "holds_permission_set", "query_error_reason"]

PERMISSION_SET = "PRM_Connector_Integration"

_NO_COLUMN = re.compile(r"No such column '([^']+)' on (?:entity|sobject of type) '?([\w]+)'?")
_NO_TYPE = re.compile(r"sObject type '([^']+)' is not supported")


@dataclass(frozen=True)
class Access:
    """Who the connector acts as, and whether they hold the permission set (None: unknown,
    e.g. the user may not read PermissionSetAssignment)."""

    user: str
    holds: bool | None
    permission_set: str = PERMISSION_SET

    def fix(self, grant: str) -> str:
        """The one fix for a missing ``grant`` ("read on Account.Partner_Tier__c")."""
        ps = self.permission_set
        if self.holds is False:
            return f"assign the permission set {ps} to {self.user}"
        if self.holds:
            return f"add {grant} to the permission set {ps} (and deploy it)"
        return f"assign the permission set {ps} to {self.user}, or add {grant} to it"

    def cannot_read_object(self, sobject: str) -> str:
        return (f"{self.user} cannot read {sobject} (no object permission, or the object is "
                f"not deployed): {self.fix(f'read on {sobject}')}")

    def cannot_read_field(self, sobject: str, field: str) -> str:
        name = f"{sobject}.{field}"
        return (f"{self.user} cannot read {name} (no field-level security, or the field is "
                f"not deployed): {self.fix(f'read on {name}')}")

    def cannot_edit_field(self, sobject: str, field: str, direction: str) -> str:
        name = f"{sobject}.{field}"
        return (f"{self.user} cannot edit {name}, which direction {direction} writes: "
                f"{self.fix(f'edit on {name}')}")

    def cannot(self, verb: str, sobject: str, why: str) -> str:
        fix = self.fix(f"{verb} on {sobject}")
        return f"{self.user} cannot {verb} {sobject} records, {why}: {fix}"


def query_error_reason(access: Access, code: str | None, message: str) -> str | None:
    """The access message for a query the org refused with INVALID_FIELD or INVALID_TYPE
    (Salesforce names the first column or object the user cannot see), else None."""
    if code == "INVALID_FIELD":
        found = _NO_COLUMN.search(message)
        if found:
            return access.cannot_read_field(found.group(2), found.group(1))
    if code == "INVALID_TYPE":
        found = _NO_TYPE.search(message)
        if found:
            return access.cannot_read_object(found.group(1))
    return None


def holds_permission_set(
    query: Callable[[str], list[dict[str, Any]]], user_id: str,
    permission_set: str = PERMISSION_SET,
) -> bool | None:
    """Whether ``user_id`` holds ``permission_set``; None when the org will not say."""
    soql = (f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}' "
            f"AND PermissionSet.Name = '{permission_set}'")
    try:
        return bool(query(soql))
    except ConnectorError:
        return None
