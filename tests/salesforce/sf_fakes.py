"""Constants and builders for a mocked Salesforce org (used with `responses`)."""

from __future__ import annotations

from typing import Any

LOGIN = "https://login.example.com"
TOKEN_URL = LOGIN + "/services/oauth2/token"
INSTANCE = "https://acme.my.salesforce.com"
API = INSTANCE + "/services/data/v62.0/"
ORG_ID = "00D5g000004ABCDEAA"
USER_ID = "0055g00000AbCdEAAA"
SESSION = ORG_ID + "!AQ0AQFirstSessionTokenValue.abc_123"
SESSION2 = ORG_ID + "!AQ0AQSecondSessionTokenValue.def_456"


def token_body(access_token: str = SESSION, **extra: Any) -> dict[str, Any]:
    """A Salesforce OAuth token response."""
    return {
        "access_token": access_token,
        "instance_url": INSTANCE,
        "id": f"{LOGIN}/id/{ORG_ID}/{USER_ID}",
        "token_type": "Bearer",
        "issued_at": "1795000000000",
        "signature": "sig",
        **extra,
    }


def limit_headers(used: int = 100, most: int = 100000) -> dict[str, str]:
    """The Sforce-Limit-Info header every REST response carries."""
    return {"Sforce-Limit-Info": f"api-usage={used}/{most}"}


def limits_body(used: int = 100, most: int = 100000) -> dict[str, Any]:
    """A limits/ response."""
    return {"DailyApiRequests": {"Max": most, "Remaining": most - used}}


class Sleeps(list[float]):
    """An injectable sleep that records its waits instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
