"""Secrets out of URLs before they are printed or logged: user-info and password-like params.

A database URL may carry ``user:password@`` or ``?password=``/``?sslpassword=``; a login URL may
carry ``user:pw@`` or ``?token=``. Whatever prints a URL (``status --json``, ``db upgrade``,
retry log lines, error messages) passes it through ``redact_url`` or, for free text that may
hold URLs, ``redact_urls``. Pure: no I/O, stdlib only, cheap to import from the CLI.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "is_secret_param", "redact_url", "redact_urls"]

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
