"""Start an emulator for tests, benchmarks and the demo: in-process (a thread) or a subprocess.

with running_emulator(seed="demo") as emu:
    token = emu.token("admin")
    emu.faults(rate=0.1, kinds=["SERVER_UNAVAILABLE"], seed=7)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from connector.emulator.org import Org
from connector.emulator.server import Emulator, EmulatorOptions

__all__ = ["EmulatorHandle", "running_emulator"]


@dataclass
class EmulatorHandle:
    """A running emulator: the JSON line's fields, plus conveniences for tests."""

    instance_url: str
    login_url: str
    organization_id: str
    ca_bundle: str
    client_id: str
    client_secret: str
    users: dict[str, dict[str, str]]
    jwt_private_key: str
    pubsub_endpoint: str = ""  # host:port of the Pub/Sub API (gRPC, TLS with ca_bundle)
    org: Org | None = None  # in-process only
    process: subprocess.Popen[str] | None = None  # subprocess only
    _tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_info(cls, info: dict[str, Any], **kw: Any) -> EmulatorHandle:
        """A handle from the ``emulator serve`` JSON line."""
        keys = (
            "instance_url",
            "login_url",
            "organization_id",
            "ca_bundle",
            "client_id",
            "client_secret",
            "users",
            "jwt_private_key",
        )
        return cls(**{k: info[k] for k in keys}, pubsub_endpoint=info.get("pubsub_endpoint", ""),
                   **kw)

    def connector_env(self, user: str = "integration") -> dict[str, str]:
        """The PRM_SF_* variables the connector's default connector.yaml reads, for this org."""
        creds = self.users[user]
        return {
            "PRM_SF_LOGIN_URL": self.login_url,
            "PRM_SF_USERNAME": creds["username"],
            "PRM_SF_PASSWORD": creds["password"],
            "PRM_SF_CLIENT_ID": self.client_id,
            "PRM_SF_CLIENT_SECRET": self.client_secret,
            "PRM_SF_CA_BUNDLE": self.ca_bundle,
            "PRM_SF_PUBSUB_ENDPOINT": self.pubsub_endpoint,
        }

    def token(self, user: str = "integration", *, fresh: bool = False) -> str:
        """An access token for ``user`` via the OAuth password flow (cached)."""
        if fresh or user not in self._tokens:
            u = self.users[user]
            resp = requests.post(
                f"{self.login_url}/services/oauth2/token",
                data={
                    "grant_type": "password",
                    "username": u["username"],
                    "password": u["password"],
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
                verify=self.ca_bundle,
                timeout=30,
            )
            resp.raise_for_status()
            self._tokens[user] = resp.json()["access_token"]
        return self._tokens[user]

    def call(self, method: str, path: str, *, user: str = "admin", **kw: Any) -> Any:
        """Call ``{instance_url}{path}`` with a bearer token; returns parsed JSON (or None)."""
        resp = requests.request(
            method,
            f"{self.instance_url}{path}",
            headers={"Authorization": f"Bearer {self.token(user)}"},
            verify=self.ca_bundle,
            timeout=300,
            **kw,
        )
        if resp.status_code == 401:
            resp = requests.request(
                method,
                f"{self.instance_url}{path}",
                headers={"Authorization": f"Bearer {self.token(user, fresh=True)}"},
                verify=self.ca_bundle,
                timeout=300,
                **kw,
            )
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        out: dict[str, Any] = self.call("GET", "/_emulator/stats")
        return out

    def reset(self, seed: str = "empty", records: int = 0) -> None:
        """``POST /_emulator/reset``: reload a seed (tokens stay valid)."""
        self.call("POST", "/_emulator/reset", json={"seed": seed, "records": records})

    def assignments(self, user: str = "integration") -> dict[str, str]:
        """Permission set name -> PermissionSetAssignment id, for ``user`` (read as the admin,
        through the API)."""
        uid = self.users[user]["id"]
        soql = ("SELECT Id, PermissionSet.Name FROM PermissionSetAssignment "
                f"WHERE AssigneeId = '{uid}'")
        rows = self.call("GET", "/services/data/v62.0/query", params={"q": soql})["records"]
        return {r["PermissionSet"]["Name"]: r["Id"] for r in rows}

    def unassign(self, permission_set: str, user: str = "integration") -> None:
        """Delete ``user``'s assignment of ``permission_set`` (as the admin, through the API)."""
        rid = self.assignments(user)[permission_set]
        self.call("DELETE", f"/services/data/v62.0/sobjects/PermissionSetAssignment/{rid}")

    def assign(self, permission_set: str, user: str = "integration") -> str:
        """Assign ``permission_set`` to ``user`` (as the admin, through the API); its id."""
        soql = f"SELECT Id FROM PermissionSet WHERE Name = '{permission_set}'"
        found = self.call("GET", "/services/data/v62.0/query", params={"q": soql})["records"]
        body = {"AssigneeId": self.users[user]["id"], "PermissionSetId": found[0]["Id"]}
        out = self.call("POST", "/services/data/v62.0/sobjects/PermissionSetAssignment",
                        json=body)
        return str(out["id"])

    def faults(self, **settings: Any) -> dict[str, Any]:
        """``POST /_emulator/faults`` (rate, kinds, latency_ms, seed, only)."""
        out: dict[str, Any] = self.call("POST", "/_emulator/faults", json=settings)
        return out


@contextmanager
def running_emulator(
    seed: str = "empty",
    records: int = 0,
    *,
    in_process: bool = True,
    state_dir: Path | None = None,
    **options: Any,
) -> Iterator[EmulatorHandle]:
    """An emulator serving over HTTPS on a free port for the duration of the block."""
    if in_process:
        opts = EmulatorOptions(seed=seed, records=records, state_dir=state_dir, **options)
        emu = Emulator(opts)
        ready = threading.Event()
        thread = threading.Thread(
            target=emu.run, kwargs={"on_ready": lambda _i: ready.set()}, daemon=True
        )
        thread.start()
        if not ready.wait(60):
            emu.stop()
            raise RuntimeError("the emulator did not start within 60 s")
        try:
            yield EmulatorHandle.from_info(emu.info, org=emu.org)
        finally:
            emu.stop()
            thread.join(30)
        return
    args = [
        sys.executable,
        "-m",
        "connector",
        "emulator",
        "serve",
        "--port",
        "0",
        "--seed",
        seed,
        "--records",
        str(records),
    ]
    if state_dir is not None:
        args += ["--state-dir", str(state_dir)]
    for spec in options.get("outbound", ()):
        args += ["--outbound", spec]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        raise RuntimeError(f"the emulator exited with {proc.returncode} before it was ready")
    try:
        yield EmulatorHandle.from_info(json.loads(line), process=proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
