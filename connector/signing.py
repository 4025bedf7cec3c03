"""Signed webhooks, both ways: the one signature the receiver checks (``POST /events``) and the
``notify`` action sends.

Header ``X-PRM-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`` where each ``v1`` is the
hex HMAC-SHA256, under one secret, of the bytes ``f"{t}."`` followed by the raw request body.

- **Replay protection**: a receiver rejects a timestamp further than its tolerance from its
  clock (either way), so a captured request cannot be sent again later.
- **Key rotation**: a :class:`Keyring` has one signing secret and any number of secrets that are
  still accepted. A sender signs with the signing secret; a receiver accepts a ``v1`` that
  matches any secret of its keyring. To rotate: add the new secret to the receivers as
  accepted, switch the senders to it, then drop the old one.

This module imports only the standard library, so every layer may use it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "SIGNATURE_HEADER",
    "Keyring",
    "SignatureError",
    "digest",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-PRM-Signature"


class SignatureError(Exception):
    """The request's signature is missing, malformed, wrong or too old."""


@dataclass(frozen=True)
class Keyring:
    """One secret that signs and the secrets still accepted (for rotation)."""

    signing: str
    accepted: tuple[str, ...] = ()

    @classmethod
    def of(cls, signing: str, accepted: Iterable[str] = ()) -> Keyring:
        return cls(signing, tuple(s for s in accepted if s and s != signing))

    @property
    def verifying(self) -> tuple[str, ...]:
        """Every secret a signature may be made with: the signing one first."""
        return (self.signing, *self.accepted)


def _keyring(keys: Keyring | str) -> Keyring:
    return keys if isinstance(keys, Keyring) else Keyring(keys)


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def digest(secret: str, timestamp: int, body: bytes | str) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + body under ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + _bytes(body), hashlib.sha256)
    return mac.hexdigest()


def sign(keys: Keyring | str, timestamp: int, body: bytes | str) -> str:
    """The X-PRM-Signature header value for ``body`` sent at ``timestamp`` (the signing secret)."""
    return f"t={int(timestamp)},v1={digest(_keyring(keys).signing, int(timestamp), body)}"


def verify(
    header: str | None,
    body: bytes | str,
    keys: Keyring | str,
    *,
    now: float,
    tolerance: float,
) -> int:
    """Check ``header`` against ``body``; returns the signed timestamp or raises SignatureError.

    Any ``v1`` entry made with any secret of ``keys`` is accepted; the timestamp must be within
    ``tolerance`` seconds of ``now``.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        value = value.strip()
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.lower())
    if timestamp is None or not candidates:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header (expected t=...,v1=...)")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"stale signature: timestamp {timestamp} is {int(abs(now - timestamp))} s from now "
            f"(tolerance {int(tolerance)} s)"
        )
    data = _bytes(body)
    for secret in _keyring(keys).verifying:
        expected = digest(secret, timestamp, data)
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return timestamp
    raise SignatureError("signature does not match the body (or was made with a retired secret)")
