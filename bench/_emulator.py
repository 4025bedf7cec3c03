"""Benchmark plumbing: an emulator in its own process, and a connector config pointed at it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def emulator_process(*args: str) -> Iterator[dict[str, Any]]:
    """Start `prm-connector emulator serve --port 0 ARGS`; yield its JSON line; stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "emulator", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit(f"emulator failed to start (exit {proc.returncode})")
    info: dict[str, Any] = json.loads(line)
    info["pid"] = proc.pid
    try:
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def connector_env(info: dict[str, Any], db_url: str) -> dict[str, str]:
    """The PRM_* environment for the default connector.yaml."""
    user = info["users"]["integration"]
    return {
        "PRM_SF_LOGIN_URL": info["login_url"],
        "PRM_SF_USERNAME": user["username"],
        "PRM_SF_PASSWORD": user["password"],
        "PRM_SF_CLIENT_ID": info["client_id"],
        "PRM_SF_CLIENT_SECRET": info["client_secret"],
        "PRM_SF_CA_BUNDLE": info["ca_bundle"],
        "PRM_SF_PUBSUB_ENDPOINT": info.get("pubsub_endpoint", ""),
        "PRM_DATABASE_URL": db_url,
    }


def write_config(target: Path) -> Path:
    """Every file of the default config (connector, mapping, triggers, programs ...), copied
    into ``target``: a benchmark runs the whole default pipeline, not a part of it."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted((ROOT / "config").iterdir()):
        if source.is_file():
            shutil.copyfile(source, target / source.name)
    return target / "connector.yaml"


def token(info: dict[str, Any], user: str) -> str:
    """An access token for one of the emulator's users (OAuth password flow)."""
    u = info["users"][user]
    resp = requests.post(
        f"{info['login_url']}/services/oauth2/token",
        data={
            "grant_type": "password",
            "username": u["username"],
            "password": u["password"],
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
        },
        verify=info["ca_bundle"],
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def env_with(extra: dict[str, str]) -> dict[str, str]:
    """The current environment plus ``extra``."""
    return {**os.environ, **extra}
