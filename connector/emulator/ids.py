"""Salesforce record ids: 15-char case-sensitive ids and their 18-char case-safe form."""

from __future__ import annotations

import string

__all__ = ["is_valid_id", "make_id", "normalize", "to18"]

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_SUFFIX = string.ascii_uppercase + "012345"
_ALNUM = frozenset(string.ascii_letters + string.digits)
_UPPER = frozenset(string.ascii_uppercase)


def _suffix(id15: str) -> str:
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if ch in _UPPER:
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def _base62(n: int) -> str:
    if n < 0:
        raise ValueError("id counter must be >= 0")
    digits = []
    while True:
        n, rem = divmod(n, 62)
        digits.append(_BASE62[rem])
        if n == 0:
            break
    return "".join(reversed(digits))


def make_id(key_prefix: str, n: int) -> str:
    """The 18-char id of record number ``n`` of the object with ``key_prefix`` (3 chars)."""
    if len(key_prefix) != 3 or not set(key_prefix) <= _ALNUM:
        raise ValueError(f"bad key prefix {key_prefix!r}")
    body = _base62(n)
    width = 15 - 3 - 2
    if len(body) > width:
        raise ValueError(f"id counter {n} too large")
    return to18(key_prefix + "5g" + body.rjust(width, "0"))


def to18(id15: str) -> str:
    """The case-safe 18-char form of a 15-char id (an 18-char id is returned as is)."""
    if len(id15) == 18:
        return id15
    if len(id15) != 15 or not set(id15) <= _ALNUM:
        raise ValueError(f"not a 15-char id: {id15!r}")
    return id15 + _suffix(id15)


def is_valid_id(s: object) -> bool:
    """True for a 15-char alphanumeric id or an 18-char one with the right suffix."""
    if not isinstance(s, str) or len(s) not in (15, 18) or not set(s) <= _ALNUM:
        return False
    return len(s) == 15 or _suffix(s[:15]) == s[15:]


def normalize(s: str) -> str:
    """The 18-char form of a valid 15- or 18-char id; ValueError otherwise."""
    if not is_valid_id(s):
        raise ValueError(f"invalid id: {s!r}")
    return to18(s[:15])
