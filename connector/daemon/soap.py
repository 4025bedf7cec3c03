"""Outbound Messages on the wire: parse the SOAP notification safely, answer Ack or a fault.

Parsing uses defusedxml with DTDs forbidden: a document type declaration (the vehicle of entity
expansion bombs and external entities) is rejected before any entity is expanded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

__all__ = [
    "MAX_NOTIFICATIONS",
    "OUTBOUND_NS",
    "SOAP_NS",
    "OutboundMessage",
    "OutboundNotification",
    "SoapRejected",
    "ack_body",
    "check_soap_action",
    "fault_body",
    "parse_outbound",
    "same_org",
]

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100  # Salesforce sends at most 100 per message
# Salesforce sends an empty SOAPAction; a few proxies drop the header or name the operation.
ACCEPTED_ACTIONS = frozenset({"", '""', "notifications", '"notifications"'})


class SoapRejected(Exception):
    """A request the receiver refuses: HTTP status, SOAP fault code and a one-line reason."""

    def __init__(self, status: int, message: str, *, code: str = "Client") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class OutboundNotification:
    """One ``Notification``: its Id (the dedupe key) and the record it names."""

    notification_id: str
    sobject: str
    sf_id: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    """One ``notifications`` request."""

    organization_id: str
    action_id: str
    notifications: tuple[OutboundNotification, ...]
    # notifications refused alone (an Id that is not a Salesforce id, no record): (id, why)
    refused: tuple[tuple[str, str], ...] = ()


def check_soap_action(header: str | None) -> None:
    """Reject a SOAPAction naming another operation (Salesforce sends an empty one)."""
    if header is None:
        return
    if header.strip() not in ACCEPTED_ACTIONS:
        raise SoapRejected(400, f"unexpected SOAPAction {header.strip()[:80]!r}")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _ns(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def _text(parent: Element, name: str) -> str:
    el = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    return (el.text or "").strip() if el is not None else ""


def parse_outbound(body: bytes) -> OutboundMessage:
    """The notifications in ``body``; raises SoapRejected (400) on anything else."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise SoapRejected(400, f"forbidden XML construct ({type(err).__name__})") from err
    except (ParseError, ValueError) as err:
        raise SoapRejected(400, f"malformed XML: {err}") from err
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapRejected(400, "not a SOAP 1.1 envelope")
    body_el = root.find(f"{{{SOAP_NS}}}Body")
    if body_el is None or len(body_el) != 1:
        raise SoapRejected(400, "the SOAP Body must hold exactly one element")
    request = body_el[0]
    if request.tag != f"{{{OUTBOUND_NS}}}notifications":
        raise SoapRejected(
            400, f"unsupported operation {_local(request.tag)!r} (expected notifications)"
        )
    org_id = _text(request, "OrganizationId")
    if not org_id:
        raise SoapRejected(400, "notifications without an OrganizationId")
    elements = request.findall(f"{{{OUTBOUND_NS}}}Notification")
    if not elements:
        raise SoapRejected(400, "notifications without a Notification")
    if len(elements) > MAX_NOTIFICATIONS:
        raise SoapRejected(400, f"{len(elements)} notifications in one message (at most 100)")
    notes: list[OutboundNotification] = []
    refused: list[tuple[str, str]] = []
    for note in elements:
        try:
            notes.append(_notification(note))
        except _Refused as err:
            refused.append((err.note_id, err.reason))
    if not notes:  # nothing worth acknowledging: the whole message is refused
        raise SoapRejected(400, refused[0][1])
    return OutboundMessage(org_id, _text(request, "ActionId"), tuple(notes), tuple(refused))


_SF_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


class _Refused(Exception):
    """One notification that cannot be stored; the others in its message can."""

    def __init__(self, note_id: str, reason: str) -> None:
        super().__init__(reason)
        self.note_id = note_id[:40]
        self.reason = reason


def _notification(note: Element) -> OutboundNotification:
    note_id = _text(note, "Id")
    sobj = note.find(f"{{{OUTBOUND_NS}}}sObject")
    if not note_id or sobj is None:
        raise _Refused(note_id, "a Notification needs an Id and an sObject")
    if not _SF_ID.fullmatch(note_id):
        raise _Refused(note_id, f"a Notification Id must be a Salesforce id (got {len(note_id)} "
                                "characters)")
    xsi_type = sobj.get(f"{{{XSI_NS}}}type", "")
    sobject = xsi_type.rsplit(":", 1)[-1].strip()
    fields = {
        _local(el.tag): (el.text or "").strip()
        for el in sobj
        if _ns(el.tag) == SOBJECT_NS and el.get(f"{{{XSI_NS}}}nil") != "true"
    }
    sf_id = fields.get("Id", "")
    if not sobject or not sf_id:
        raise _Refused(note_id, f"Notification {note_id[:40]} has no sObject type or Id")
    if not _API_NAME.fullmatch(sobject) or not _SF_ID.fullmatch(sf_id):
        raise _Refused(note_id, f"Notification {note_id[:40]} names no valid sObject type or Id")
    return OutboundNotification(note_id, sobject, sf_id, fields)


def same_org(a: str, b: str) -> bool:
    """True when two org ids name the same org.

    Each must be a 15- or an 18-character id. Two 18-character ids compare in full (the
    last three characters, a checksum of the case of the first 15, case-insensitively); a
    15-character id equals the 18-character id it is the case-sensitive prefix of.
    """
    if not (_SF_ID.fullmatch(a or "") and _SF_ID.fullmatch(b or "")):
        return False
    if len(a) == len(b) == 18:
        return a[:15] == b[:15] and a[15:].upper() == b[15:].upper()
    return a[:15] == b[:15]


def _envelope(inner: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>{inner}'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def ack_body() -> bytes:
    """The only answer that makes Salesforce forget the notifications it sent."""
    return _envelope(
        f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    )


def fault_body(message: str, code: str = "Client") -> bytes:
    """A SOAP fault: Salesforce keeps the notifications and retries them."""
    return _envelope(
        f"<soapenv:Fault><faultcode>soapenv:{escape(code)}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring></soapenv:Fault>"
    )
