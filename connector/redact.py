"""Secrets out of URLs before they are printed or logged: user-info and password-like params.

A database URL may carry ``user:password@`` or ``?password=``/``?sslpassword=``; a login URL may
carry ``user:pw@`` or ``?token=``. Whatever prints a URL (``status --json``, ``db upgrade``,
retry log lines, error messages) passes it through ``redact_url`` or, for free text that may
hold URLs, ``redact_urls``. ``scrub`` also removes session ids, tokens, passwords and every
secret registered with ``register_secret`` (the Salesforce client registers what it logs in
with); ``scrub_event`` is the structlog processor that scrubs every log event. Pure: no I/O,
stdlib only, cheap to import from the CLI and from logging.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

__all__ = [
    "MASK",
    "is_secret_param",
    "redact_url",
    "redact_urls",
    "register_secret",
    "scrub",
    "scrub_event",
    "without_sql",
]

MASK = "***"

# A query parameter whose name contains one of these holds a secret (password, pwd,
# sslpassword, access_token, client_secret, api_key, sig, sessionid, ...).
_SECRET_PARTS = (
    "pass",
    "pwd",
    "token",
    "secret",
    "key",
    "sig",
    "session",
    "auth",
    "credential",
    "private",
    "cookie",
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# A URL inside free text: a scheme, then anything up to whitespace or a quote/bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>`]+")
_PARAM = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")


def is_secret_param(name: str) -> bool:
    """True if a query parameter called ``name`` may hold a secret."""
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARTS)


def _redact_authority(authority: str, scheme: str) -> str:
    """``user:pw@host`` -> ``user:***@host``; a bare ``secret@host`` on http(s) -> ``***@host``."""
    if "@" not in authority:
        return authority
    userinfo, host = authority.rsplit("@", 1)
    if ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{user}:{MASK}@{host}"
    if scheme.lower() in ("http", "https", "ws", "wss", "ftp"):
        # A web URL with only a user part carries a token there (https://TOKEN@host).
        return f"{MASK}@{host}"
    return authority  # postgresql://postgres@host: a role name, not a secret


def redact_url(url: str) -> str:
    """``url`` with the password of its user-info and every secret-like query value masked.

    The rest of the text is kept exactly as given (no re-encoding), so the result still reads
    as the URL the user wrote.
    """
    match = _SCHEME.match(url)
    if match is None:
        return _redact_query(url)
    scheme = match.group(0)[:-3]
    rest = url[match.end() :]
    cut = len(rest)
    for sep in "/?#":
        pos = rest.find(sep)
        if pos != -1:
            cut = min(cut, pos)
    # A password may itself contain '/', '?' or '#': the authority ends at the last '@'
    # before the path when there is one.
    hash_at = rest.find("#")
    at = rest.rfind("@", 0, hash_at if hash_at != -1 else len(rest))
    if at != -1 and at >= cut and ":" in rest[: at].split("/", 1)[0]:
        tail = rest[at:]
        cut = at + min((tail.find(s) for s in "/?#" if tail.find(s) != -1), default=len(tail))
    authority, remainder = rest[:cut], rest[cut:]
    return f"{scheme}://{_redact_authority(authority, scheme)}{_redact_query(remainder)}"


def _redact_query(text: str) -> str:
    def mask(m: re.Match[str]) -> str:
        sep, name, value = m.group(1), m.group(2), m.group(3)
        if value and is_secret_param(name):
            return f"{sep}{name}={MASK}"
        return m.group(0)

    return _PARAM.sub(mask, text)


def redact_urls(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it redacted."""
    if "://" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        url = m.group(0)
        # Punctuation closing a sentence is not part of the URL ("... at URL: refused").
        core = url.rstrip(".,;:!?)]}")
        return redact_url(core) + url[len(core) :]

    return _URL_IN_TEXT.sub(one, text)


# --- secrets in free text and log events ---------------------------------------------------

_REDACTED = "[redacted]"
_TOKEN_CHARS = r"[^\s\"'&,;<>]"
_PATTERNS = (
    # session ids / access tokens: 00D + org id + ! + opaque part
    re.compile(r"00D[A-Za-z0-9]{12,15}!" + _TOKEN_CHARS + "+"),
    re.compile(r"(?i)(bearer\s+)" + _TOKEN_CHARS + "+"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|client_secret|password|security_token|assertion"
        r"|session_?id|sessionid|code_verifier)[\"']?\s*[:=]\s*[\"']?)" + _TOKEN_CHARS + "+"
    ),
    re.compile(r"(?i)(<(?:\w+:)?sessionId>)[^<]+"),
)
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a configured secret (password, client secret...) so ``scrub`` removes it too."""
    if value and len(value) >= 4:
        _known.add(value)


def scrub(text: str) -> str:
    """``text`` with session ids, tokens, passwords, URL user-info and known secrets replaced."""
    text = redact_urls(text)
    for secret in sorted(_known, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.re.groups else "") + _REDACTED,
            text,
        )
    return text


# SQLAlchemy's error text quotes the statement and its parameters (values that came from
# Salesforce or a sender): never in a log line
_SQL_BLOCKS = re.compile(
    r"\n?\[(?:SQL|parameters): .*?\](?=\n\[parameters: |\n\(Background on this error|\s*\Z)",
    re.DOTALL,
)


def without_sql(text: str) -> str:
    """``text`` without the ``[SQL: ...]`` and ``[parameters: ...]`` of a database error."""
    if "[SQL: " not in text and "[parameters: " not in text:
        return text
    return _SQL_BLOCKS.sub("", text)


def scrub_event(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: scrub every string value of a log event (secrets, and the SQL
    text and parameters a database error quotes)."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub(without_sql(value))
        elif isinstance(value, BaseException):
            event_dict[key] = scrub(without_sql(str(value)))
    return event_dict
