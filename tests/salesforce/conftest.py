"""Fixtures for the Salesforce client tests: a mocked org behind `responses`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from sf_fakes import API, LOGIN, TOKEN_URL, Sleeps, limit_headers, limits_body, token_body

from connector.salesforce import SalesforceClient, connect
from connector.settings import SalesforceSettings


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    """HTTP mock that fails the test when a registered call never happened."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    """Recorded waits."""
    return Sleeps()


@pytest.fixture
def sf_settings() -> SalesforceSettings:
    """Password-flow settings against the mocked login URL."""
    return SalesforceSettings(
        login_url=LOGIN,
        username="integration@acme.example",
        password="pw-Very-Secret",
        security_token="TOKENxyz",
        client_id="3MVG9client",
        client_secret="client-secret-0001",
        max_attempts=4,
        backoff_max_seconds=8,
    )


@pytest.fixture
def client(
    rsps: responses.RequestsMock, sf_settings: SalesforceSettings, sleeps: Sleeps
) -> SalesforceClient:
    """A connected client; its first data call first reads limits/ (usage 100/100000)."""
    rsps.post(TOKEN_URL, json=token_body())
    rsps.get(API + "limits/", json=limits_body(), headers=limit_headers())
    return connect(sf_settings, sleep=sleeps, clock=lambda: 1_795_000_000.0)
