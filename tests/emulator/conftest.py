"""Emulator integration fixtures: one in-process emulator over real HTTPS per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce

from connector.emulator.testing import EmulatorHandle, running_emulator

from emuclients import sf_for


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    """An emulator seeded with the demo org and 5,000 extra opportunities.

    Unmodified clients trust it the documented way: REQUESTS_CA_BUNDLE (which overrides
    ``Session.verify`` in requests) names the emulator's CA.
    """
    with running_emulator(seed="demo", records=5000) as handle:
        mp = pytest.MonkeyPatch()
        mp.setenv("REQUESTS_CA_BUNDLE", handle.ca_bundle)
        try:
            yield handle
        finally:
            mp.undo()


@pytest.fixture
def sf(emu: EmulatorHandle) -> Salesforce:
    """simple-salesforce as the integration user."""
    return sf_for(emu)
