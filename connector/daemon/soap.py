"""Outbound Messages on the wire: parse the SOAP notification safely, answer Ack or a fault.

Parsing uses defusedxml with DTDs forbidden: a document type declaration (the vehicle of entity
expansion bombs and external entities) is rejected before any entity is expanded.
"""

from __future__ import annotations

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
    notes: list[OutboundNotification] = []
    for note in request.findall(f"{{{OUTBOUND_NS}}}Notification"):
        notes.append(_notification(note))
    if not notes:
        raise SoapRejected(400, "notifications without a Notification")
    if len(notes) > MAX_NOTIFICATIONS:
        raise SoapRejected(400, f"{len(notes)} notifications in one message (at most 100)")
    return OutboundMessage(org_id, _text(request, "ActionId"), tuple(notes))


def _notification(note: Element) -> OutboundNotification:
    note_id = _text(note, "Id")
    sobj = note.find(f"{{{OUTBOUND_NS}}}sObject")
    if not note_id or sobj is None:
        raise SoapRejected(400, "a Notification needs an Id and an sObject")
    xsi_type = sobj.get(f"{{{XSI_NS}}}type", "")
    sobject = xsi_type.rsplit(":", 1)[-1].strip()
    fields = {
        _local(el.tag): (el.text or "").strip()
        for el in sobj
        if _ns(el.tag) == SOBJECT_NS and el.get(f"{{{XSI_NS}}}nil") != "true"
    }
    sf_id = fields.get("Id", "")
    if not sobject or not sf_id:
        raise SoapRejected(400, f"Notification {note_id[:40]} has no sObject type or Id")
    return OutboundNotification(note_id, sobject, sf_id, fields)


def same_org(a: str, b: str) -> bool:
    """True when two org ids name the same org (15- and 18-character forms compare equal)."""
    return bool(a) and bool(b) and a[:15] == b[:15]


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
