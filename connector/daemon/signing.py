"""Signed webhooks: ``X-PRM-Signature: t=<unix seconds>,v1=<hex>``, HMAC-SHA256 over
``f"{t}.{body}"`` with the shared secret (the scheme the outbox uses for ``notify`` too).

Several ``v1=`` entries may be given while a secret is being rotated; one must match. A
timestamp further than the tolerance from now (either way) is rejected, so a captured request
cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_HEADER", "SignatureError", "sign", "signature_header", "verify"]

SIGNATURE_HEADER = "X-PRM-Signature"


class SignatureError(Exception):
    """The request's signature is missing, malformed, wrong or too old."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}."`` + body under ``secret``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The value of the X-PRM-Signature header for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(header: str | None, body: bytes, secret: str, *, now: float, tolerance: int) -> int:
    """Check ``header`` against ``body``; returns the signed timestamp or raises SignatureError."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header (expected t=...,v1=...)")
    if abs(now - timestamp) > tolerance:
        raise SignatureError(
            f"stale signature: timestamp {timestamp} is {int(abs(now - timestamp))} s from now "
            f"(tolerance {tolerance} s)"
        )
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match the body")
    return timestamp
