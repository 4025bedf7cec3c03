"""Who may use the operations page, and how a POST proves it came from the page itself.

- Without ``ops.token`` the page serves loopback only: the bind must be a loopback address,
  and each request must come from loopback and name a loopback host (DNS rebinding).
- With a token, every request needs it: ``Authorization: Bearer TOKEN`` (scripts), or the
  signed, HttpOnly, SameSite=Strict cookie the login form sets.
- Every POST made with the browser's ambient credentials (cookie, or none on loopback) carries
  a CSRF token tied to the session and an Origin (or Referer) naming this very page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from connector.errors import ConfigError, ConfigProblem

__all__ = [
    "COOKIE",
    "Identity",
    "OpsAuth",
    "check_bind",
    "is_loopback",
    "same_origin",
]

COOKIE = "prm_ops"
TOKEN_SETTING = "ops.token"


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost (a Host header may carry a port)."""
    if not host:
        return False
    name = host.strip()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, config_file: Path | None = None) -> None:
    """Refuse (exit 2, one line naming the setting) to serve the page off loopback without a
    token."""
    if token or is_loopback(host):
        return
    where = str(config_file) if config_file else "connector.yaml"
    raise ConfigError([ConfigProblem(where, 1, 1, (
        f"the operations page listens on {host}, which is not loopback: set {TOKEN_SETTING} "
        "(ops: token: ${PRM_OPS_TOKEN}) in connector.yaml, or listen on 127.0.0.1"))])


@dataclass(frozen=True)
class Identity:
    """Who is making a request, and how they proved it."""

    who: str
    how: str  # loopback | bearer | cookie
    session: str  # what the CSRF token is bound to

    @property
    def ambient(self) -> bool:
        """Credentials a browser would send by itself (so a POST needs CSRF and Origin)."""
        return self.how != "bearer"


@dataclass
class OpsAuth:
    """The page's secrets: the token (when set) and the key that signs cookies and CSRF."""

    token: str | None
    session_seconds: int = 8 * 3600
    local_user: str = "operator"
    key: bytes = field(default=b"")

    def __post_init__(self) -> None:
        if not self.key:
            # With a token, cookies survive a restart; without one, a key per process.
            self.key = (hashlib.sha256(b"prm-ops-cookie:" + self.token.encode()).digest()
                        if self.token else secrets.token_bytes(32))

    # --- signing ---------------------------------------------------------------------------
    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def make_cookie(self, who: str, now: float | None = None) -> str:
        """A signed session: the operator's name and its expiry."""
        body = {"u": who[:80], "exp": int((now or time.time()) + self.session_seconds),
                "n": secrets.token_hex(8)}
        raw = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
        return f"{raw}.{self._mac(raw)}"

    def read_cookie(self, value: str | None, now: float | None = None) -> str | None:
        """The operator's name from a valid, unexpired cookie; None otherwise."""
        if not value or "." not in value:
            return None
        raw, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(raw)):
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError:
            return None
        if not isinstance(body, dict) or int(body.get("exp", 0)) < (now or time.time()):
            return None
        return str(body.get("u") or "operator")

    def csrf(self, session: str) -> str:
        """The CSRF token of a session (forms carry it; a POST must send it back)."""
        return self._mac("csrf:" + session)

    def csrf_ok(self, session: str, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(self.csrf(session), str(offered))

    def token_ok(self, offered: str | None) -> bool:
        return bool(self.token) and bool(offered) and hmac.compare_digest(
            str(self.token).encode(), str(offered).encode())

    # --- requests --------------------------------------------------------------------------
    def identify(
        self, *, client: str | None, host: str | None, authorization: str | None,
        cookie: str | None,
    ) -> Identity | None:
        """Who this request is, or None when it must log in (or is refused)."""
        if self.token is None:
            # loopback only: the peer and the name it asked for
            if not (is_loopback(client) and is_loopback(host)):
                return None
            return Identity(f"{self.local_user} (loopback)", "loopback", "loopback")
        if authorization and authorization.lower().startswith("bearer "):
            if self.token_ok(authorization[7:].strip()):
                return Identity("bearer token", "bearer", "bearer")
            return None
        who = self.read_cookie(cookie)
        if who is None:
            return None
        return Identity(who, "cookie", str(cookie))


def same_origin(origin: str | None, referer: str | None, host: str | None) -> bool:
    """The POST came from a page of this server: its Origin (else Referer) is this host."""
    if not host:
        return False
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    parts = urlsplit(source)
    # the host only: behind a TLS-terminating proxy the page is https, this server http
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
