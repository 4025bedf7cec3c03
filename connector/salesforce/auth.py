"""Our own OAuth 2.0 against the configured login URL (My Domain, sandbox or the emulator).

simple-salesforce's login only knows ``https://{domain}.salesforce.com``; this module speaks the
token endpoint directly for the password, refresh-token, client-credentials and JWT-bearer
flows, and turns ``{"error", "error_description"}`` into an ``AuthFailed`` an admin can act on.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from connector.redact import redact_url
from connector.salesforce.errors import (
    ApiUnavailable,
    AuthFailed,
    SalesforceApiError,
    register_secret,
    scrub,
)
from connector.settings import SalesforceSettings

__all__ = ["Authenticator", "Token", "build_jwt_assertion"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Token:
    """An access token and where to use it."""

    access_token: str = ""
    instance_url: str = ""
    issued_at: float = 0.0
    id_url: str | None = None
    refresh_token: str | None = None

    @property
    def user_id(self) -> str:
        """The logged-in user's id: the last segment of the identity URL."""
        return self.id_url.rstrip("/").rsplit("/", 1)[-1] if self.id_url else ""

    @property
    def organization_id(self) -> str:
        """The org id: the second-to-last segment of the identity URL."""
        parts = (self.id_url or "").rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 else ""

    def __repr__(self) -> str:
        return f"Token(instance_url={self.instance_url!r}, user_id={self.user_id!r})"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def build_jwt_assertion(
    *, client_id: str, username: str, audience: str, private_key_pem: bytes, now: float
) -> str:
    """An RS256-signed JWT for the JWT-bearer flow (iss=client_id, sub=username, aud, exp)."""
    # imported here: only the jwt flow signs anything
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthFailed("salesforce.private_key_file must hold an RSA private key (PEM).")
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {
        "iss": client_id,
        "sub": username,
        "aud": audience,
        "exp": int(now) + JWT_LIFETIME_SECONDS,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


_HINTS = {
    "invalid_client_id": "salesforce.client_id is not the consumer key of a connected app "
    "in this org",
    "invalid_client": "salesforce.client_id / client_secret do not match the connected app",
    "unsupported_grant_type": "the connected app does not allow the '{flow}' flow "
    "(enable it in the app's OAuth policies)",
    "inactive_user": "the integration user is inactive",
    "inactive_org": "the org is locked or inactive",
}


def _hint(error: str, description: str, flow: str, username: str | None) -> str:
    if error in _HINTS:
        return _HINTS[error].format(flow=flow)
    if error == "invalid_grant":
        d = description.lower()
        if flow == "refresh_token" or "expired" in d or "revoked" in d:
            return "the refresh token is expired or revoked: authorise the connected app again"
        if flow == "jwt":
            return (
                "the JWT was refused: check the certificate uploaded to the connected app, that "
                f"{username} is pre-authorised for it, and login_url"
            )
        if flow == "client_credentials":
            return "the connected app has no run-as user for the client credentials flow"
        return (
            f"username or password (plus security_token) for {username} is wrong, or the user "
            "is locked out"
        )
    return "check the credentials in connector.yaml"


class Authenticator:
    """Logs in with the configured flow and refreshes the token on demand."""

    def __init__(
        self,
        settings: SalesforceSettings,
        session: requests.Session,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.session = session
        self.clock = clock
        for secret in (
            settings.password,
            settings.security_token,
            settings.client_secret,
            settings.refresh_token,
        ):
            register_secret(secret)

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint under login_url."""
        return self.settings.login_url.rstrip("/") + "/services/oauth2/token"

    def login(self) -> Token:
        """A new access token from the configured flow."""
        return self._post(self._grant())

    def refresh(self, token: Token) -> Token:
        """A fresh access token: the refresh token when we have one, else a new login."""
        refresh_token = token.refresh_token or self.settings.refresh_token
        if refresh_token and self.settings.auth in ("refresh_token", "password"):
            form = {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.settings.client_id or "",
            }
            if self.settings.client_secret:
                form["client_secret"] = self.settings.client_secret
            fresh = self._post(form, flow="refresh_token")
            return fresh if fresh.refresh_token else _with_refresh(fresh, refresh_token)
        return self.login()

    def _grant(self) -> dict[str, str]:
        s = self.settings
        cid, secret = s.client_id or "", s.client_secret or ""
        if s.auth == "password":
            return {
                "grant_type": "password",
                "client_id": cid,
                "client_secret": secret,
                "username": s.username or "",
                "password": (s.password or "") + (s.security_token or ""),
            }
        if s.auth == "refresh_token":
            form = {"grant_type": "refresh_token", "refresh_token": s.refresh_token or ""}
            form["client_id"] = cid
            if secret:
                form["client_secret"] = secret
            return form
        if s.auth == "client_credentials":
            return {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
        key_file = Path(s.private_key_file or "")
        try:
            pem = key_file.read_bytes()
        except OSError as err:
            raise AuthFailed(
                f"Cannot read salesforce.private_key_file {key_file}: {err.strerror}"
            ) from None
        try:
            assertion = build_jwt_assertion(
                client_id=cid,
                username=s.username or "",
                audience=s.login_url,
                private_key_pem=pem,
                now=self.clock(),
            )
        except ValueError:
            raise AuthFailed(
                f"salesforce.private_key_file {key_file} is not an unencrypted PEM private key"
            ) from None
        register_secret(assertion)
        return {"grant_type": JWT_GRANT, "assertion": assertion}

    def _post(self, form: dict[str, str], *, flow: str | None = None) -> Token:
        flow = flow or self.settings.auth
        s = self.settings
        try:
            resp = self.session.post(
                self.token_url,
                data=form,
                headers={"Accept": "application/json"},
                timeout=(s.connect_timeout, s.read_timeout),
            )
        except requests.RequestException as err:
            raise ApiUnavailable(
                f"Cannot reach the Salesforce login URL {redact_url(s.login_url)}: "
                f"{type(err).__name__}",
                detail=scrub(str(err)),
            ) from None
        body = _json(resp)
        if resp.status_code >= 500:
            raise ApiUnavailable(
                f"The Salesforce login URL {redact_url(s.login_url)} is unavailable "
                f"(HTTP {resp.status_code})",
                status=resp.status_code,
            )
        if resp.status_code != 200 or not body.get("access_token"):
            raise _auth_error(resp.status_code, body, flow, s)
        token = Token(
            access_token=str(body["access_token"]),
            instance_url=str(body.get("instance_url") or "").rstrip("/"),
            issued_at=_issued_at(body.get("issued_at"), self.clock()),
            id_url=body.get("id"),
            refresh_token=body.get("refresh_token"),
        )
        register_secret(token.access_token)
        register_secret(token.refresh_token)
        if not token.instance_url:
            raise AuthFailed("Salesforce's token response has no instance_url.")
        return token


def _auth_error(
    status: int, body: dict[str, Any], flow: str, s: SalesforceSettings
) -> SalesforceApiError:
    error = str(body.get("error") or f"HTTP {status}")
    description = scrub(str(body.get("error_description") or "no description"))
    hint = _hint(error, description, flow, s.username)
    return AuthFailed(
        f"Salesforce login ({flow} flow at {redact_url(s.login_url)}) failed: {error}: "
        f"{description}. "
        f"Likely cause: {hint}.",
        status=status,
        code=error,
    )


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _issued_at(value: Any, fallback: float) -> float:
    try:
        return int(value) / 1000.0  # Salesforce sends milliseconds since the epoch
    except (TypeError, ValueError):
        return fallback


def _with_refresh(token: Token, refresh_token: str) -> Token:
    return Token(
        token.access_token, token.instance_url, token.issued_at, token.id_url, refresh_token
    )
