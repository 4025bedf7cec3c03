"""The suite's shared fixtures and helpers, one copy each (a pytest plugin: ``tests/conftest.py``
lists it in ``pytest_plugins``, so its fixtures reach every test without an import).

Fixtures
    ``emulator``: one in-process emulator per test module (seed: demo), with
    ``REQUESTS_CA_BUNDLE`` set so unmodified clients trust it; tests reset it as they need.
    ``emulator_fixture(**options)`` makes a module-scoped fixture of another seed or options
    (``emu = emulator_fixture(seed="empty")`` in a test module).

Helpers (import them: ``from prmfixtures import sf_env, write_config``)
    ``CONFIG_DIR``: the default config files (``connector/defaults``).
    ``write_config(folder, replace, *, sync)``: the default files copied into ``folder``.
    ``sf_env(emu, db_url)``: the PRM_* variables the default connector.yaml reads, for ``emu``.
    ``offline_env(folder)``: the same for no org at all (commands that never call one).
    ``settings_for(emu, url, folder, **sync)`` and ``sync_context(settings, engine)``: settings
    and a sync context as the composition root makes them.
    ``open_test_runtime(emu, url, folder, **sync)``: a runtime over the default config.
    ``sf_client(emu, user)``: unmodified simple-salesforce acting as one of the org's users.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.service import Runtime, open_runtime
from connector.settings import Settings, load_settings
from connector.sync.context import SyncContext

__all__ = [
    "CONFIG_DIR",
    "emulator",
    "emulator_fixture",
    "offline_env",
    "open_test_runtime",
    "settings_for",
    "sf_client",
    "sf_env",
    "sync_context",
    "write_config",
]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "connector" / "defaults"


def sf_env(emu: EmulatorHandle, db_url: str) -> dict[str, str]:
    """The PRM_* variables the default connector.yaml reads, pointed at ``emu``."""
    return {**emu.connector_env(), "PRM_DATABASE_URL": db_url}


def sf_client(emu: EmulatorHandle, user: str = "admin", *, fresh: bool = False) -> Salesforce:
    """Unmodified simple-salesforce over HTTPS with an OAuth token of ``user`` (by default the
    org's admin: not the integration user, so its edits are people's edits, not echoes)."""
    session = requests.Session()
    session.verify = emu.ca_bundle
    return Salesforce(instance_url=emu.instance_url, session_id=emu.token(user, fresh=fresh),
                      session=session, version="62.0")


def offline_env(folder: Path) -> dict[str, str]:
    """PRM_* variables for the default connector.yaml with no org behind them (an address
    nothing listens on) and a SQLite store in ``folder``: for commands that call no org."""
    return {
        "PRM_SF_LOGIN_URL": "https://127.0.0.1:9", "PRM_SF_USERNAME": "u@example.com",
        "PRM_SF_PASSWORD": "pw", "PRM_SF_CLIENT_ID": "cid", "PRM_SF_CLIENT_SECRET": "secret",
        "PRM_DATABASE_URL": f"sqlite:///{folder / 'x.db'}", "PRM_CONFIG": "",
    }


def write_config(
    folder: Path, replace: dict[str, Any] | None = None, *, sync: dict[str, Any] | None = None
) -> Path:
    """Copy the default connector.yaml, mapping.yaml and triggers.yaml into ``folder``.

    ``replace`` maps a key to its new value on the first line ``key: ...`` (any section);
    ``sync`` sets keys of the ``sync:`` section (added when the file has none)."""
    for name in ("connector.yaml", "mapping.yaml", "triggers.yaml"):
        shutil.copyfile(CONFIG_DIR / name, folder / name)
    path = folder / "connector.yaml"
    text = path.read_text()
    for key, value in (replace or {}).items():
        text = re.sub(rf"^(\s*){key}: .*$", rf"\g<1>{key}: {value}", text, count=1, flags=re.M)
    for key, value in (sync or {}).items():
        pattern = re.compile(rf"^  {key}: .*$", re.M)
        if pattern.search(text):
            text = pattern.sub(f"  {key}: {value}", text, count=1)
        else:
            text = text.replace("\nsync:\n", f"\nsync:\n  {key}: {value}\n", 1)
    path.write_text(text)
    return path


def settings_for(emu: EmulatorHandle, url: str, folder: Path, **sync: Any) -> Settings:
    """Settings for the default config against ``emu`` and the store at ``url``."""
    return load_settings(write_config(folder, sync=sync), env=sf_env(emu, url))


def sync_context(settings: Settings, engine: Engine) -> SyncContext:
    """What the sync services take, made by the composition root (``Runtime.context``)."""
    from connector.mapping import load_mapping

    return Runtime(settings, load_mapping(settings.mapping_path), engine).context()


def open_test_runtime(emu: EmulatorHandle, url: str, folder: Path, **sync: Any) -> Runtime:
    """``open_runtime`` over the default config in ``folder``, against ``emu`` and ``url``."""
    return open_runtime(write_config(folder, sync=sync), env=sf_env(emu, url))


def emulator_fixture(
    *, trust: bool = False, **options: Any
) -> Callable[[], Iterator[EmulatorHandle]]:
    """A module-scoped fixture serving an emulator started with ``options`` (``seed``,
    ``records``, ...); ``trust`` sets ``REQUESTS_CA_BUNDLE`` to its CA while it runs."""

    @pytest.fixture(scope="module")
    def fixture() -> Iterator[EmulatorHandle]:
        with running_emulator(**options) as handle:
            mp = pytest.MonkeyPatch()
            if trust:
                mp.setenv("REQUESTS_CA_BUNDLE", handle.ca_bundle)
            try:
                yield handle
            finally:
                mp.undo()

    return fixture


emulator = emulator_fixture(seed="demo", trust=True)
