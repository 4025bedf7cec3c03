"""A notification that cannot be stored is refused alone: the valid ones in its message are
stored and the message acknowledged; no log line carries SQL text or parameters. And the
OrganizationId is compared in full (15 or 18 characters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import DataError

from connector.daemon.soap import same_org
from connector.emulator.outbound import build_envelope
from connector.store.bookkeeping import ReceivedNotification

from .conftest import ORG_ID, Running, stored_count
from .test_receiver import is_fault, post_soap

TABLE = ReceivedNotification.__table__  # type: ignore[attr-defined]


def _message(note_ids: list[str]) -> bytes:
    return build_envelope(
        organization_id=ORG_ID, action_id="04k000000000001AAA",
        enterprise_url="https://example/e", partner_url="https://example/p", sobject="Account",
        notifications=[(n, {"Id": f"0010000000{i:05d}AAA"}) for i, n in enumerate(note_ids)],
    )


def _stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(TABLE.c.notification_id)).scalars())


def test_a_notification_with_a_ten_kilobyte_id_is_refused_alone(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """Three notifications, the middle one with a ~10 KB Id: 200 Ack, the other two stored;
    the refusal is logged with a short prefix of the Id, never the whole value."""
    rx = receiver()
    huge = "04l" + "X" * 10_000
    with structlog.testing.capture_logs() as logs:
        resp = post_soap(rx.url, _message(["04l000000000001AAA", huge, "04l000000000003AAA"]))
    assert resp.status_code == 200 and not is_fault(resp), resp.text
    assert _stored_ids(engine) == {"04l000000000001AAA", "04l000000000003AAA"}
    refused = [e for e in logs if e["event"] == "receiver.notification_refused"]
    assert len(refused) == 1 and len(refused[0]["notification"]) <= 40
    assert all(huge not in str(e) for e in logs)
    # redelivered (Salesforce retries what it sent): still acknowledged, nothing doubled
    assert post_soap(rx.url, _message(["04l000000000001AAA", huge])).status_code == 200
    assert stored_count(engine) == 2


def test_a_message_with_only_unstorable_notifications_is_refused(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """Nothing in it can be stored: a 400 fault, nothing stored."""
    rx = receiver()
    resp = post_soap(rx.url, _message(["not an id", "04l" + "Y" * 5000]))
    assert resp.status_code == 400 and is_fault(resp)
    assert stored_count(engine) == 0


def test_a_notification_the_store_refuses_is_refused_alone_and_no_sql_is_logged(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """The store refuses one notification (a driver error whose text quotes the SQL and its
    parameters): the other two are stored, the message acknowledged, and no log line holds
    the SQL or the refused value."""
    poisoned = "04l00000000000POISON"[:18]

    def refuse(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if poisoned in str(params):
            raise DataError(statement, params, Exception("value refused by the store"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        rx = receiver()
        with structlog.testing.capture_logs() as logs:
            resp = post_soap(rx.url, _message(["04l000000000001AAA", poisoned,
                                               "04l000000000003AAA"]))
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert resp.status_code == 200 and not is_fault(resp), resp.text
    assert _stored_ids(engine) == {"04l000000000001AAA", "04l000000000003AAA"}
    text = " ".join(str(e) for e in logs)
    assert "INSERT" not in text.upper() and "received_notification" not in text
    assert any(e["event"] == "receiver.notification_refused" for e in logs)


def test_when_the_store_refuses_everything_the_message_gets_a_503_without_sql_in_logs(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    """The store is failing (every insert raises): 503 so Salesforce retries; the log names
    the kind of failure only."""
    def refuse(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "received_notification" in statement:
            raise DataError(statement, params, Exception("store down"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        rx = receiver()
        with structlog.testing.capture_logs() as logs:
            resp = post_soap(rx.url, _message(["04l000000000001AAA", "04l000000000002AAA"]))
    finally:
        event.remove(engine, "before_cursor_execute", refuse)
    assert resp.status_code == 503 and is_fault(resp)
    failed = [e for e in logs if e["event"] == "receiver.store_failed"]
    assert failed and all("INSERT" not in str(e).upper() for e in logs)


@pytest.mark.parametrize(
    ("offered", "same"),
    [
        (ORG_ID, True),
        (ORG_ID[:15], True),
        (ORG_ID[:15] + ORG_ID[15:].lower(), True),  # the suffix is case-insensitive
        (ORG_ID[:15] + "XYZ", False),  # same first 15, another 18-character id
        (ORG_ID + "junk", False),
        (ORG_ID[:14], False),
        (ORG_ID[:15].lower(), False),  # 15-character ids are case-sensitive
        ("", False),
    ],
)
def test_organization_ids_compare_in_full(offered: str, same: bool) -> None:
    """An 18-character id is compared in full, a 15-character one as its prefix."""
    assert same_org(offered, ORG_ID) is same


def test_a_message_from_an_org_with_the_same_15_characters_but_another_suffix_is_403(
    receiver: Callable[..., Running], engine: Engine
) -> None:
    rx = receiver()
    body = _message(["04l000000000001AAA"]).replace(ORG_ID.encode(), (ORG_ID[:15] + "XYZ").encode())
    resp = post_soap(rx.url, body)
    assert resp.status_code == 403 and stored_count(engine) == 0
