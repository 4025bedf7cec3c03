"""No secret in a URL survives redaction: user-info passwords and password-like parameters."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.redact import MASK, is_secret_param, redact_url, redact_urls
from connector.salesforce.errors import scrub

TOLERANT = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Secrets carry a marker so the property cannot be fooled by a secret that happens to equal
# a piece of the host or path.
secrets = st.text(alphabet=string.ascii_letters + string.digits + "!$%()*+,-.:;=~/?#[]",
                  min_size=1, max_size=20).map(lambda s: f"SECRET{s}")
safe = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=12)
secret_params = st.sampled_from(
    ["password", "pwd", "PASSWORD", "sslpassword", "token", "access_token", "client_secret",
     "secret", "api_key", "sessionid", "sig"]
)
schemes = st.sampled_from(["postgresql", "postgresql+psycopg", "https", "http", "sqlite", "redis"])


@st.composite
def urls_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    scheme = draw(schemes)
    user = draw(safe)
    host = draw(safe) + ".example.com"
    path = "/" + draw(safe)
    hidden: list[str] = []
    userinfo = ""
    if draw(st.booleans()):
        pw = draw(secrets).replace("@", "")
        # a password in a URL has '/', '?' and '#' percent-encoded, or is written raw
        if draw(st.booleans()):
            pw = pw.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")
        userinfo = f"{user}:{pw}@"
        hidden.append(pw)
    params = []
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            value = draw(secrets).replace("&", "").replace("#", "").replace(";", "")
            params.append(f"{draw(secret_params)}={value}")
            hidden.append(value)
        else:
            params.append(f"{draw(safe)}x={draw(safe)}")
    if not hidden:
        pw = draw(secrets).replace("@", "").replace("/", "").replace("?", "").replace("#", "")
        userinfo = f"{user}:{pw}@"
        hidden.append(pw)
    query = ("?" + "&".join(params)) if params else ""
    return f"{scheme}://{userinfo}{host}{path}{query}", hidden


@TOLERANT
@given(urls_with_secrets())
def test_no_secret_survives_redact_url(case: tuple[str, list[str]]) -> None:
    """Whatever the password or secret parameter holds, it is gone from the redacted URL."""
    url, hidden = case
    out = redact_url(url)
    for secret in hidden:
        assert secret not in out
    assert MASK in out


@TOLERANT
@given(urls_with_secrets(), safe, safe)
def test_no_secret_survives_in_free_text_or_log_scrub(
    case: tuple[str, list[str]], before: str, after: str
) -> None:
    """A URL inside a message or a log line (scrub) loses its secrets too."""
    url, hidden = case
    for text in (redact_urls(f"{before} at {url}: {after}"), scrub(f"retry {url} failed")):
        for secret in hidden:
            assert secret not in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://prm:pw@db:5432/prm?sslmode=require&sslpassword=kp",
         "postgresql://prm:***@db:5432/prm?sslmode=require&sslpassword=***"),
        ("postgresql://postgres@127.0.0.1/test", "postgresql://postgres@127.0.0.1/test"),
        ("https://user:pw@login.example.com", "https://user:***@login.example.com"),
        ("https://ghp_token123@host/x", "https://***@host/x"),
        ("sqlite:///prm.db", "sqlite:///prm.db"),
        ("https://h/q?q=SELECT+Id&token=abc", "https://h/q?q=SELECT+Id&token=***"),
    ],
)
def test_redact_url_keeps_what_is_not_secret(url: str, expected: str) -> None:
    """Host, port, role name, path and ordinary parameters stay readable."""
    assert redact_url(url) == expected


def test_secret_parameter_names() -> None:
    assert all(is_secret_param(n) for n in ("password", "PWD", "sslpassword", "X-Token"))
    assert not any(is_secret_param(n) for n in ("sslmode", "q", "options", "host"))
