"""Sync integration fixtures: a real emulator over HTTPS and a store on SQLite or PostgreSQL."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.settings import Settings, load_settings
from connector.sync.context import SyncContext

from dbfixtures import db_kind, store

__all__ = [
    "db_kind",
    "emulator",
    "settings_for",
    "sf_env",
    "store",
    "sync_context",
    "write_config",
]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def sf_env(emu: EmulatorHandle, db_url: str) -> dict[str, str]:
    """The PRM_* variables the default connector.yaml reads, pointed at ``emu``."""
    return {**emu.connector_env(), "PRM_DATABASE_URL": db_url}


def write_config(tmp_path: Path, extra_sync: dict[str, Any] | None = None) -> Path:
    """Copy the default config files into ``tmp_path``; optionally override ``sync:`` keys."""
    for name in ("connector.yaml", "mapping.yaml", "triggers.yaml"):
        shutil.copyfile(CONFIG_DIR / name, tmp_path / name)
    path = tmp_path / "connector.yaml"
    text = path.read_text()
    for key, value in (extra_sync or {}).items():
        pattern = re.compile(rf"^  {key}: .*$", re.M)
        if pattern.search(text):
            text = pattern.sub(f"  {key}: {value}", text, count=1)
        else:
            text = text.replace("\nsync:\n", f"\nsync:\n  {key}: {value}\n", 1)
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorHandle]:
    """One in-process emulator per test module (seed: demo); tests reset it as they need."""
    with running_emulator(seed="demo") as emu:
        # Unmodified clients in these tests trust the emulator the documented way.
        mp = pytest.MonkeyPatch()
        mp.setenv("REQUESTS_CA_BUNDLE", emu.ca_bundle)
        try:
            yield emu
        finally:
            mp.undo()


def settings_for(emu: EmulatorHandle, url: str, tmp_path: Path, **sync: Any) -> Settings:
    """Settings for the default config against ``emu`` and the store at ``url``."""
    path = write_config(tmp_path, sync or None)
    return load_settings(path, env=sf_env(emu, url))


def sync_context(settings: Settings, engine: Engine) -> SyncContext:
    """What the sync services take, made by the composition root (``Runtime.context``)."""
    from connector.mapping import load_mapping
    from connector.service import Runtime

    return Runtime(settings, load_mapping(settings.mapping_path), engine).context()
