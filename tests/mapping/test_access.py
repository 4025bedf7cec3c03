"""The access messages `check` and `sync` share: who, what, and the one fix."""

from __future__ import annotations

import pytest

from connector.errors import ConnectorError
from connector.mapping.access import Access, holds_permission_set, query_error_reason

SET = "PRM_Connector_Integration"


@pytest.mark.parametrize(("holds", "fix"), [
    (False, f"assign the permission set {SET} to u@x"),
    (True, f"add read on Account.Tier__c to the permission set {SET} (and deploy it)"),
    (None, f"assign the permission set {SET} to u@x, or add read on Account.Tier__c to it"),
])
def test_the_fix_follows_whether_the_user_holds_the_set(holds: bool | None, fix: str) -> None:
    msg = Access("u@x", holds).cannot_read_field("Account", "Tier__c")
    assert msg.startswith("u@x cannot read Account.Tier__c") and msg.endswith(": " + fix)
    assert "\n" not in msg


def test_query_errors_as_salesforce_words_them() -> None:
    access = Access("u@x", False)
    field = query_error_reason(access, "INVALID_FIELD", (
        "Salesforce rejected a query the mapping built (INVALID_FIELD): \nSELECT Id, "
        "Tier__c FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column "
        "'Tier__c' on entity 'Account'. If you are attempting to use a custom field, be sure "
        "to append the '__c' after the custom field name."))
    assert field == access.cannot_read_field("Account", "Tier__c")
    obj = query_error_reason(access, "INVALID_TYPE",
                             "sObject type 'Deal__c' is not supported. If you are ...")
    assert obj == access.cannot_read_object("Deal__c")
    assert query_error_reason(access, "MALFORMED_QUERY", "unexpected token") is None
    assert query_error_reason(access, "INVALID_FIELD", "something else entirely") is None


def test_holds_permission_set_is_unknown_when_the_org_will_not_say() -> None:
    def refused(soql: str) -> list[dict[str, str]]:
        raise ConnectorError("INVALID_TYPE: sObject type 'PermissionSetAssignment' ...")

    assert holds_permission_set(refused, "005x") is None
    assert holds_permission_set(lambda soql: [{"Id": "0Pa1"}], "005x") is True
    assert holds_permission_set(lambda soql: [], "005x") is False
