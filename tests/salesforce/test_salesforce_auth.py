"""OAuth flows against the configured login URL, and their error bodies."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sf_fakes import LOGIN, SESSION, TOKEN_URL, USER_ID, token_body

from connector.errors import FatalError, RetriableError
from connector.salesforce import ApiUnavailable, Authenticator, AuthFailed, Token
from connector.settings import SalesforceSettings

NOW = 1_795_000_000.0


def _auth(settings: SalesforceSettings) -> Authenticator:
    return Authenticator(settings, requests.Session(), clock=lambda: NOW)


def _form(rsps: responses.RequestsMock, i: int = 0) -> dict[str, str]:
    body = rsps.calls[i].request.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return {k: v[0] for k, v in parse_qs(text).items()}


def test_password_flow_posts_credentials_with_security_token(
    rsps: responses.RequestsMock, sf_settings: SalesforceSettings
) -> None:
    """Password flow: username, password+token, client id and secret go to login_url."""
    rsps.post(TOKEN_URL, json=token_body())
    token = _auth(sf_settings).login()
    assert _form(rsps) == {
        "grant_type": "password",
        "client_id": "3MVG9client",
        "client_secret": "client-secret-0001",
        "username": "integration@acme.example",
        "password": "pw-Very-SecretTOKENxyz",
    }
    assert token.access_token == SESSION
    assert token.instance_url == "https://acme.my.salesforce.com"
    assert token.user_id == USER_ID
    assert token.issued_at == 1_795_000_000.0
    assert SESSION not in repr(token)


def test_refresh_token_flow(rsps: responses.RequestsMock) -> None:
    """Refresh-token flow sends the refresh token and keeps it for the next refresh."""
    settings = SalesforceSettings(
        login_url=LOGIN, auth="refresh_token", client_id="cid", refresh_token="5Aep-refresh"
    )
    rsps.post(TOKEN_URL, json=token_body())
    token = _auth(settings).login()
    assert _form(rsps) == {
        "grant_type": "refresh_token",
        "refresh_token": "5Aep-refresh",
        "client_id": "cid",
    }
    rsps.post(TOKEN_URL, json=token_body("00D5g000004ABCDEAA!second"))
    fresh = _auth(settings).refresh(token)
    assert fresh.access_token == "00D5g000004ABCDEAA!second"
    assert fresh.refresh_token == "5Aep-refresh"
    assert _form(rsps, 1)["grant_type"] == "refresh_token"


def test_client_credentials_flow(rsps: responses.RequestsMock) -> None:
    """Client-credentials flow sends only the connected app's key and secret."""
    settings = SalesforceSettings(
        login_url=LOGIN, auth="client_credentials", client_id="cid", client_secret="csecret"
    )
    rsps.post(TOKEN_URL, json=token_body())
    _auth(settings).login()
    assert _form(rsps) == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": "csecret",
    }


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_jwt_flow_sends_an_rs256_assertion_that_verifies(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    """JWT flow: iss=client_id, sub=username, aud=login_url, exp=now+180, signed RS256."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "server.key").write_bytes(pem)
    settings = SalesforceSettings(
        login_url=LOGIN,
        auth="jwt",
        client_id="cid",
        username="integration@acme.example",
        private_key_file=tmp_path / "server.key",
    )
    rsps.post(TOKEN_URL, json=token_body())
    _auth(settings).login()
    form = _form(rsps)
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims, signature = form["assertion"].split(".")
    assert json.loads(_b64decode(header)) == {"alg": "RS256", "typ": "JWT"}
    assert json.loads(_b64decode(claims)) == {
        "iss": "cid",
        "sub": "integration@acme.example",
        "aud": LOGIN,
        "exp": int(NOW) + 180,
    }
    key.public_key().verify(  # raises InvalidSignature when wrong
        _b64decode(signature),
        f"{header}.{claims}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_jwt_with_a_file_that_is_not_a_key_fails_clearly(tmp_path: Path) -> None:
    """A private_key_file holding garbage is an AuthFailed naming the file, before any call."""
    (tmp_path / "server.key").write_text("not a key")
    settings = SalesforceSettings(
        login_url=LOGIN,
        auth="jwt",
        client_id="cid",
        username="u@example.com",
        private_key_file=tmp_path / "server.key",
    )
    with pytest.raises(AuthFailed, match=r"server\.key is not an unencrypted PEM private key"):
        _auth(settings).login()


@pytest.mark.parametrize(
    ("error", "description", "hint"),
    [
        ("invalid_grant", "authentication failure", "username or password"),
        ("invalid_client_id", "client identifier invalid", "consumer key"),
        ("invalid_client", "invalid client credentials", "client_id / client_secret"),
        ("unsupported_grant_type", "grant type not supported", "does not allow the 'password'"),
        ("inactive_user", "user is inactive", "integration user is inactive"),
    ],
)
def test_error_body_becomes_auth_failed_with_a_hint(
    rsps: responses.RequestsMock,
    sf_settings: SalesforceSettings,
    error: str,
    description: str,
    hint: str,
) -> None:
    """{"error", "error_description"} -> AuthFailed (fatal) naming the cause, no secrets."""
    rsps.post(TOKEN_URL, status=400, json={"error": error, "error_description": description})
    with pytest.raises(AuthFailed) as info:
        _auth(sf_settings).login()
    message = str(info.value)
    assert isinstance(info.value, FatalError)
    assert error in message and description in message and hint in message
    assert info.value.code == error
    assert "pw-Very-Secret" not in message and "client-secret-0001" not in message


def test_login_outage_is_retriable(
    rsps: responses.RequestsMock, sf_settings: SalesforceSettings
) -> None:
    """A 503 from the login URL is ApiUnavailable, not a credentials problem."""
    rsps.post(TOKEN_URL, status=503, body="maintenance")
    with pytest.raises(ApiUnavailable) as info:
        _auth(sf_settings).login()
    assert isinstance(info.value, RetriableError)


def test_unreachable_login_url_is_retriable(
    rsps: responses.RequestsMock, sf_settings: SalesforceSettings
) -> None:
    """A connection error is ApiUnavailable naming the login URL."""
    rsps.post(TOKEN_URL, body=requests.ConnectionError("refused"))
    with pytest.raises(ApiUnavailable, match=r"login\.example\.com"):
        _auth(sf_settings).login()


def test_token_without_instance_url_is_rejected(
    rsps: responses.RequestsMock, sf_settings: SalesforceSettings
) -> None:
    """A token response missing instance_url cannot be used."""
    rsps.post(TOKEN_URL, json={"access_token": "x" * 20})
    with pytest.raises(AuthFailed, match="instance_url"):
        _auth(sf_settings).login()


def test_password_flow_refresh_logs_in_again(
    rsps: responses.RequestsMock, sf_settings: SalesforceSettings
) -> None:
    """Without a refresh token, refresh() is a new login with the configured flow."""
    rsps.post(TOKEN_URL, json=token_body("00D5g000004ABCDEAA!again"))
    fresh = _auth(sf_settings).refresh(Token(access_token="old", instance_url="https://x"))
    assert fresh.access_token == "00D5g000004ABCDEAA!again"
    assert _form(rsps)["grant_type"] == "password"
