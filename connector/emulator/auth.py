"""Authentication: the OAuth token endpoint (four grants), identity, SOAP login, bearer checks.

``require_user(request)`` and ``user_for_token(token)`` are what every protected route calls;
they raise 401 INVALID_SESSION_ID as Salesforce does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import weakref
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from defusedxml import ElementTree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from connector.emulator.errors import ApiError

if TYPE_CHECKING:
    from connector.emulator.org import Org, UserInfo

__all__ = [
    "JwtKeys",
    "auth_routes",
    "register_org",
    "require_admin",
    "require_user",
    "user_for_token",
]

_ORGS: weakref.WeakSet[Org] = weakref.WeakSet()
_EXPIRED = ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def register_org(org: Org) -> None:
    """Make ``org``'s sessions known to ``user_for_token``."""
    _ORGS.add(org)


def user_for_token(token: str) -> str:
    """The user id a session token acts as; 401 INVALID_SESSION_ID when unknown or expired."""
    for org in list(_ORGS):
        user = org.user_for_token(token)
        if user is not None:
            return user
    raise _EXPIRED


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token:
        raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
    return token.strip()


def require_user(request: Request) -> str:
    """The acting user of a REST request (Authorization: Bearer), or 401."""
    org: Org = request.app.state.org
    user = org.user_for_token(_bearer(request))
    if user is None:
        raise _EXPIRED
    return user


def require_admin(request: Request) -> str:
    """The acting user if it is the org's admin; 401 without a session, 403 for any other
    user (the test API can wipe the org, so the integration and partner users may not)."""
    user = require_user(request)
    org: Org = request.app.state.org
    admin = org.users.get("admin")
    if admin is None or user != admin.id:
        raise ApiError(403, "INSUFFICIENT_ACCESS", "the test API is for the admin user only")
    return user


class JwtKeys:
    """The RSA key pair of the org's connected app for the JWT bearer flow."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public = self.private.public_key()

    def private_pem(self) -> bytes:
        """The private key in PEM form (the connector signs its assertions with it)."""
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def verify(self, assertion: str) -> dict[str, Any]:
        """The claims of a valid RS256 assertion; ValueError otherwise."""
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(_unb64(head_b64))
            claims: dict[str, Any] = json.loads(_unb64(claims_b64))
            signature = _unb64(sig_b64)
        except (ValueError, json.JSONDecodeError) as err:
            raise ValueError("malformed assertion") from err
        if header.get("alg") != "RS256":
            raise ValueError("alg must be RS256")
        try:
            self.public.verify(
                signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as err:
            raise ValueError("invalid signature") from err
        return claims


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response(
        orjson.dumps({"error": error, "error_description": description}),
        status,
        media_type="application/json",
    )


def _token_response(request: Request, org: Org, user: UserInfo, *, refresh: bool) -> Response:
    base = str(request.base_url).rstrip("/")
    issued = str(int(time.time() * 1000))
    identity = f"{base}/id/{org.organization_id}/{user.id}"
    signature = base64.b64encode(
        hmac.new(org.client_secret.encode(), (identity + issued).encode(), hashlib.sha256).digest()
    ).decode()
    body: dict[str, Any] = {
        "access_token": org.new_session(user.id),
        "instance_url": base,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": signature,
        "scope": "api refresh_token",
    }
    if refresh:
        body["refresh_token"] = user.refresh_token
    return Response(orjson.dumps(body), 200, media_type="application/json")


async def token(request: Request) -> Response:
    """POST /services/oauth2/token: password, refresh_token, client_credentials, JWT bearer."""
    org: Org = request.app.state.org
    form = await request.form()
    grant = str(form.get("grant_type", ""))
    client_id = str(form.get("client_id", ""))
    client_secret = str(form.get("client_secret", ""))
    if grant == "password":
        if client_id != org.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret != org.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        user = org.user_by(username=str(form.get("username", "")))
        password = str(form.get("password", ""))
        if user is None or not password.startswith(user.password):
            return _oauth_error("invalid_grant", "authentication failure")
        return _token_response(request, org, user, refresh=False)
    if grant == "refresh_token":
        if client_id != org.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if client_secret and client_secret != org.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        refresh_token = str(form.get("refresh_token", ""))
        user = org.user_by(refresh_token=refresh_token)
        if user is None or refresh_token in org.revoked_refresh_tokens:
            return _oauth_error("invalid_grant", "expired access/refresh token")
        return _token_response(request, org, user, refresh=False)
    if grant == "client_credentials":
        if client_id != org.client_id or client_secret != org.client_secret:
            return _oauth_error("invalid_client", "invalid client credentials")
        return _token_response(request, org, org.users["integration"], refresh=False)
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
        keys: JwtKeys = request.app.state.jwt_keys
        try:
            claims = keys.verify(str(form.get("assertion", "")))
        except ValueError as err:
            return _oauth_error("invalid_grant", f"invalid assertion: {err}")
        if claims.get("iss") != org.client_id:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if float(claims.get("exp", 0)) < time.time():
            return _oauth_error("invalid_grant", "expired authorization code")
        user = org.user_by(username=str(claims.get("sub", "")))
        if user is None:
            return _oauth_error("invalid_grant", "user hasn't approved this consumer")
        return _token_response(request, org, user, refresh=False)
    return _oauth_error("unsupported_grant_type", "grant type not supported")


async def identity(request: Request) -> Response:
    """GET /id/{org}/{user}: the identity URL of the token's user."""
    org: Org = request.app.state.org
    user_id = require_user(request)
    user = org.user_by(user_id=user_id)
    assert user is not None
    base = str(request.base_url).rstrip("/")
    body = {
        "id": f"{base}/id/{org.organization_id}/{user.id}",
        "user_id": user.id,
        "organization_id": org.organization_id,
        "username": user.username,
        "display_name": user.name,
        "email": user.email,
        "active": True,
        "user_type": "STANDARD",
        "urls": {
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "query": f"{base}/services/data/v{{version}}/query/",
        },
    }
    return Response(orjson.dumps(body), 200, media_type="application/json")


_SOAP_FAULT = """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>\
<faultcode>sf:{code}</faultcode><faultstring>{code}: {message}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault></detail>\
</soapenv:Fault></soapenv:Body></soapenv:Envelope>"""


async def soap_login(request: Request) -> Response:
    """POST /services/Soap/u/{version}: the partner API ``login`` call."""
    org: Org = request.app.state.org
    version = request.path_params["version"]
    try:
        root = ElementTree.fromstring(await request.body())
        fields = {el.tag.rsplit("}", 1)[-1]: (el.text or "") for el in root.iter()}
    except ElementTree.ParseError:
        body = _SOAP_FAULT.format(code="INVALID_LOGIN", message="Invalid request")
        return Response(body, 500, media_type="text/xml")
    user = org.user_by(username=fields.get("username", ""))
    if user is None or not fields.get("password", "").startswith(user.password):
        body = _SOAP_FAULT.format(
            code="INVALID_LOGIN",
            message="Invalid username, password, security token; or user locked out.",
        )
        return Response(body, 500, media_type="text/xml")
    base = str(request.base_url).rstrip("/")
    session = org.new_session(user.id)
    server = f"{base}/services/Soap/u/{version}/{org.organization_id}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse>'
        f"<result><metadataServerUrl>{base}/services/Soap/m/{version}/{org.organization_id}"
        "</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{server}</serverUrl><sessionId>{escape(session)}</sessionId>"
        f"<userId>{user.id}</userId><userInfo>{_user_info_xml(org, user)}</userInfo>"
        "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Response(body, 200, media_type="text/xml")


def _user_info_xml(org: Org, user: UserInfo) -> str:
    """``userInfo`` children in the partner WSDL's GetUserInfoResult sequence: some clients
    read organizationId and the rest by position, so the order is part of the contract."""
    nil = None
    fields: list[tuple[str, str | None]] = [
        ("accessibilityMode", "false"),
        ("chatterExternal", "false"),
        ("currencySymbol", "$"),
        ("orgAttachmentFileSizeLimit", "5242880"),
        ("orgDefaultCurrencyIsoCode", "USD"),
        ("orgDefaultCurrencyLocale", "en_US"),
        ("orgDisallowHtmlAttachments", "false"),
        ("orgHasPersonAccounts", "false"),
        ("organizationId", org.organization_id),
        ("organizationMultiCurrency", "false"),
        ("organizationName", "PRM Emulator"),
        ("profileId", "00e5g000000000" + ("1AAA" if user.key == "admin" else "2AAA")),
        ("roleId", nil),
        ("sessionSecondsValid", str(int(org.session_ttl))),
        ("userDefaultCurrencyIsoCode", nil),
        ("userEmail", user.email),
        ("userFullName", user.name),
        ("userId", user.id),
        ("userLanguage", "en_US"),
        ("userLocale", "en_US"),
        ("userName", user.username),
        ("userTimeZone", "America/Los_Angeles"),
        ("userType", "PowerPartner" if user.key == "partner" else "Standard"),
        ("userUiSkin", "Theme3"),
    ]
    return "".join(
        f'<{name} xsi:nil="true"/>' if value is None else f"<{name}>{escape(value)}</{name}>"
        for name, value in fields
    )


async def revoke(request: Request) -> Response:
    """POST (form ``token=``) or GET (``?token=``) /services/oauth2/revoke: an access token
    ends its session; a refresh token is revoked with every session of its user. 200 on
    success, 400 ``invalid_token`` otherwise."""
    org: Org = request.app.state.org
    if request.method == "POST":
        token = str((await request.form()).get("token", ""))
    else:
        token = request.query_params.get("token", "")
    if not token:
        return _oauth_error("unsupported_token_type", "Token type not supported")
    if not org.revoke(token):
        return _oauth_error("invalid_token", "Token was invalid")
    return Response(b"", 200)


async def userinfo(request: Request) -> Response:
    """GET /services/oauth2/userinfo: the token's user as OpenID Connect claims."""
    org: Org = request.app.state.org
    user = org.user_by(user_id=require_user(request))
    assert user is not None
    base = str(request.base_url).rstrip("/")
    first, _, last = user.name.partition(" ")
    body = {
        "sub": f"{base}/id/{org.organization_id}/{user.id}",
        "user_id": user.id,
        "organization_id": org.organization_id,
        "preferred_username": user.username,
        "nickname": user.key,
        "name": user.name,
        "email": user.email,
        "email_verified": True,
        "given_name": first,
        "family_name": last or first,
        "zoneinfo": "America/Los_Angeles",
        "profile": f"{base}/{user.id}",
        "active": True,
        "user_type": "POWER_PARTNER" if user.key == "partner" else "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28800000,
        "urls": {
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "query": f"{base}/services/data/v{{version}}/query/",
        },
    }
    return Response(orjson.dumps(body), 200, media_type="application/json")


def auth_routes() -> list[BaseRoute]:
    """The routes that need no session: token, SOAP login; plus identity."""
    return [
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route("/services/oauth2/userinfo", userinfo, methods=["GET", "POST"]),
        Route("/services/oauth2/revoke", revoke, methods=["GET", "POST"]),
        Route("/id/{org}/{user}", identity, methods=["GET"]),
        Route("/services/Soap/u/{version}", soap_login, methods=["POST"]),
    ]
