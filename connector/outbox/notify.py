"""Signed webhooks for the ``notify`` action, signed by ``connector.signing`` (the scheme the
daemon's ``POST /events`` verifies). Failures are retried through the outbox like any other
write.
"""

from __future__ import annotations

import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from connector.signing import SIGNATURE_HEADER, sign

__all__ = ["NotifyResult", "Poster", "body_text", "post_signed"]


@dataclass(frozen=True)
class NotifyResult:
    """What a webhook POST came to: ``retry`` for outages and 5xx/429, else final."""

    ok: bool
    retry: bool
    code: str
    message: str


Poster = Callable[[str, bytes, dict[str, str], float], tuple[int, str]]


def body_text(body: Any) -> str:
    """The exact text that is signed and sent (JSON with sorted keys unless already text)."""
    if isinstance(body, str):
        return body
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def _urllib_post(url: str, data: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    ctx = ssl.create_default_context(cafile=os.environ.get("PRM_NOTIFY_CA_BUNDLE") or None)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return int(resp.status), ""
    except urllib.error.HTTPError as err:
        return int(err.code), str(err.reason)


def post_signed(
    fields: Mapping[str, Any],
    *,
    now: float,
    timeout: float,
    env: Mapping[str, str] | None = None,
    poster: Poster | None = None,
) -> NotifyResult:
    """POST ``fields["body"]`` to ``fields["url"]`` signed with the secret in ``secret_env``."""
    url = str(fields.get("url") or "")
    if not url.startswith(("https://", "http://")):
        return NotifyResult(
            False, False, "INVALID_URL", f"notify needs an http(s) url, got {url!r}"
        )
    secret_env = str(fields.get("secret_env") or "")
    secret = (env if env is not None else os.environ).get(secret_env) if secret_env else None
    if not secret:
        return NotifyResult(
            False, False, "MISSING_SECRET",
            f"the environment variable {secret_env or '(secret_env)'} holding the webhook "
            "secret is not set",
        )
    text = body_text(fields.get("body"))
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, int(now), text),
        "User-Agent": "prm-connector",
    }
    try:
        status, reason = (poster or _urllib_post)(url, text.encode("utf-8"), headers, timeout)
    except (OSError, urllib.error.URLError) as err:
        return NotifyResult(False, True, "CONNECTION_ERROR", f"{url}: {type(err).__name__}")
    if 200 <= status < 300:
        return NotifyResult(True, False, "OK", "")
    retry = status >= 500 or status in (408, 425, 429)
    return NotifyResult(False, retry, f"HTTP_{status}", f"{url} answered {status} {reason}".strip())
