"""The end customer of a deal registration as a key: normalised name and domain.

Two registrations name the same customer when their normalised company names are equal, or
their normalised web/email domains are. The keys are stored with each registration
(``customer_name_key``, ``customer_domain_key``, both indexed) by every writer of the table,
so a conflict check is an index lookup whatever the size of the store.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from connector.store.nultext import unescape_nul

__all__ = [
    "DERIVED_COLUMNS",
    "KEY_LENGTH",
    "LEGAL_SUFFIXES",
    "derived_values",
    "normalise_company",
    "normalise_domain",
]

LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "corp", "corporation", "co", "company", "llc", "llp", "lp", "ltd",
    "limited", "plc", "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy",
    "ab", "as", "aps", "pty", "pte", "kk", "sl",
})
#: keys are cut to this many characters (Salesforce text fields hold 255): an index entry
#: stays small on every database
KEY_LENGTH = 255
_NON_WORD = re.compile(r"[^\w\s]+")
_SPACE = re.compile(r"\s+")


def normalise_company(name: str | None) -> str:
    """``"ACME, Inc."`` -> ``"acme"``: lower case, no accents/punctuation/legal suffixes."""
    if not name:
        return ""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    # "B.V." and "S.A." are one word each: dots join, other punctuation separates
    text = text.replace("&", " and ").replace(".", "")
    words = _SPACE.sub(" ", _NON_WORD.sub(" ", text)).strip().split(" ")
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(w for w in words if w)[:KEY_LENGTH].rstrip()


def normalise_domain(value: str | None) -> str:
    """``"https://www.Acme.com/x"`` or ``"jane@acme.com"`` -> ``"acme.com"``."""
    if not value:
        return ""
    text = value.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    if text.startswith("www."):
        text = text[4:]
    return text.strip(".").replace("\x00", "")[:KEY_LENGTH]  # a key is plain text


#: entity -> derived column -> (the column it is computed from, how)
DERIVED_COLUMNS: dict[str, dict[str, tuple[str, Callable[[Any], str]]]] = {
    "deal_registration": {
        "customer_name_key": ("end_customer_name", normalise_company),
        "customer_domain_key": ("end_customer_domain", normalise_domain),
    },
}


def derived_values(entity: str, values: Mapping[str, Any]) -> dict[str, str | None]:
    """The derived columns to write with ``values`` (only those whose source is among them;
    an empty key is stored as NULL)."""
    out: dict[str, str | None] = {}
    for column, (source, derive) in DERIVED_COLUMNS.get(entity, {}).items():
        if source in values:
            raw = values[source]
            text = unescape_nul(raw) if isinstance(raw, str) else None  # the original text
            out[column] = derive(text) or None
    return out
