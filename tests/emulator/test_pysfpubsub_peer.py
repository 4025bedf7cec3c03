"""pysfpubsub (a Pub/Sub API client from PyPI, unmodified, in its own venv) subscribes to the
emulator and receives the expected change events (when .ci/run has installed it)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from connector.emulator.testing import EmulatorHandle, running_emulator

from pubsubclient import latest_replay_id

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "peers" / "pysfpubsub_client.py"
PYTHON = ROOT / "bench" / "peers" / ".venv-pubsub" / "bin" / "python"
V = "/services/data/v62.0"

pytestmark = pytest.mark.skipif(
    not PYTHON.exists(), reason="bench/peers/.venv-pubsub not installed (.ci/run installs it)"
)


def test_pysfpubsub_receives_the_change_events() -> None:
    with running_emulator(seed="empty") as emu:
        start = latest_replay_id(emu)
        ids = _changes(emu)
        user = emu.users["integration"]
        settings = {
            "url": emu.login_url,
            "username": user["username"],
            "password": user["password"],
            "endpoint": emu.pubsub_endpoint,
            "ca_bundle": emu.ca_bundle,
            "topic": "/data/AccountChangeEvent",
            "replay_id": start.hex(),
            "count": 3,
            "timeout": 60,
        }
        proc = subprocess.run(
            [str(PYTHON), str(SCRIPT), json.dumps(settings)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, proc.stderr[-3000:]
    events, summary = lines[:-1], lines[-1]
    assert summary == {"done": 3}
    headers = [e["ChangeEventHeader"] for e in events]
    assert [h["changeType"] for h in headers] == ["CREATE", "UPDATE", "DELETE"]
    assert all(h["recordIds"] == [ids["acme"]] for h in headers)
    assert events[0]["Name"] == "Acme" and events[1]["Name"] == "Acme Corp"
    assert headers[0]["changeOrigin"] == "com/salesforce/api/rest/62.0"
    assert headers[1]["changedFields"]  # a bitmap string, decoded by the test suite elsewhere


def _changes(emu: EmulatorHandle) -> dict[str, str]:
    acme = emu.call("POST", f"{V}/sobjects/Account", user="integration", json={"Name": "Acme"})
    emu.call("POST", f"{V}/sobjects/Contact", user="integration", json={"LastName": "Other"})
    emu.call("PATCH", f"{V}/sobjects/Account/{acme['id']}", user="integration",
             json={"Name": "Acme Corp"})
    emu.call("DELETE", f"{V}/sobjects/Account/{acme['id']}", user="integration")
    return {"acme": acme["id"]}
