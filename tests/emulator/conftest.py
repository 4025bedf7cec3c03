"""Emulator integration fixtures: one in-process emulator over real HTTPS per module."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce

from connector.emulator.testing import EmulatorHandle

from prmfixtures import emulator_fixture, sf_client

# The demo org with 5,000 extra opportunities; unmodified clients trust it the documented
# way: REQUESTS_CA_BUNDLE (which overrides ``Session.verify`` in requests) names its CA.
emu = emulator_fixture(seed="demo", records=5000, trust=True)


@pytest.fixture
def sf(emu: EmulatorHandle) -> Salesforce:
    """simple-salesforce as the integration user."""
    return sf_client(emu, "integration")
