"""Clients for emulator tests: unmodified simple-salesforce pointed at an emulator."""

from __future__ import annotations

import requests
from simple_salesforce import Salesforce

from connector.emulator.testing import EmulatorHandle

__all__ = ["sf_for"]


def sf_for(emu: EmulatorHandle, user: str = "integration", *, fresh: bool = False) -> Salesforce:
    """Unmodified simple-salesforce over HTTPS with an OAuth token of ``user``."""
    session = requests.Session()
    session.verify = emu.ca_bundle
    return Salesforce(
        instance_url=emu.instance_url,
        session_id=emu.token(user, fresh=fresh),
        session=session,
        version="62.0",
    )
