"""Who the connector acts as in the org, and whether it holds PRM_Connector_Integration:
what ``check`` and ``sync`` need to name a missing permission with its fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.mapping.access import Access, holds_permission_set, query_error_reason

if TYPE_CHECKING:
    from connector.salesforce import SalesforceClient

__all__ = ["access_reason", "connector_access"]

ACCESS_CODES = frozenset({"INVALID_FIELD", "INVALID_TYPE"})


def connector_access(client: SalesforceClient, username: str | None) -> Access:
    """The integration user (by username, else id) and whether it holds the set (one query;
    None when the user may not read PermissionSetAssignment)."""

    def query(soql: str) -> list[dict[str, Any]]:
        return [row for page in client.query_pages(soql) for row in page]

    return Access(username or client.user_id, holds_permission_set(query, client.user_id))


def access_reason(
    client: SalesforceClient, username: str | None, err: BaseException,
    cache: dict[str, Access],
) -> str | None:
    """The one-line access message for a read the org refused because the user cannot see a
    field or object (INVALID_FIELD / INVALID_TYPE), else None. ``cache`` keeps the Access of
    one run, so several refused objects cost one extra query."""
    code = getattr(err, "code", None)
    if code not in ACCESS_CODES:
        return None
    if "access" not in cache:
        cache["access"] = connector_access(client, username)
    return query_error_reason(cache["access"], code, str(getattr(err, "message", err)))
