"""Signed webhook events (``POST /events``): the JSON body and its validation.

    {"id": "evt-42", "sobject": "Deal_Registration__c", "ids": ["a01...", "a01..."]}

``id`` is the sender's unique event id (a retry reuses it), ``ids`` the changed records (1 to
200). Like an Outbound Message, an event is a hint: the daemon fetches the records itself.
"""

from __future__ import annotations

import re

import orjson

from connector.daemon.inbox import Incoming

__all__ = ["MAX_IDS", "EventRejected", "parse_event"]

MAX_IDS = 200
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SOBJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


class EventRejected(Exception):
    """A webhook body that is not a valid event."""


def parse_event(body: bytes) -> list[Incoming]:
    """One stored notification per record id of the event; raises EventRejected."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise EventRejected(f"body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise EventRejected('expected an object {"id", "sobject", "ids"}')
    event_id, sobject, ids = data.get("id"), data.get("sobject"), data.get("ids")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise EventRejected('"id" must be a non-empty string (at most 200 characters)')
    if not isinstance(sobject, str) or not _SOBJECT.match(sobject):
        raise EventRejected('"sobject" must be an sObject API name such as "Account"')
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_IDS:
        raise EventRejected(f'"ids" must be a list of 1 to {MAX_IDS} record ids')
    bad = [i for i in ids if not isinstance(i, str) or not _SF_ID.match(i)]
    if bad:
        raise EventRejected(f'"ids" holds something that is not a record id: {str(bad[0])[:40]!r}')
    return [Incoming(f"event:{event_id}:{i}", sobject, i, "event") for i in dict.fromkeys(ids)]
