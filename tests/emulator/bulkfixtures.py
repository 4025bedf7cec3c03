"""Shared helpers for the Bulk API tests: an emulator over HTTPS and a client for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from simple_salesforce import Salesforce

from connector.emulator.testing import EmulatorHandle, running_emulator

API = "61.0"


class Emu:
    """An in-process emulator plus a logged-in integration user."""

    def __init__(self, handle: EmulatorHandle) -> None:
        self.handle = handle
        self._sessions: list[requests.Session] = []
        self.instance_url = handle.instance_url.rstrip("/")
        self.ca_bundle = str(handle.ca_bundle)
        self.session = self._session()
        user = handle.users["integration"]
        resp = self.session.post(
            handle.login_url.rstrip("/") + "/services/oauth2/token",
            data={
                "grant_type": "password",
                "client_id": handle.client_id,
                "client_secret": handle.client_secret,
                "username": user["username"],
                "password": user["password"],
            },
            timeout=30,
        )
        resp.raise_for_status()
        self.token = str(resp.json()["access_token"])
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        # The test API (/_emulator/) answers the admin user only.
        self.admin_session = self._session()
        self.admin_session.headers["Authorization"] = f"Bearer {handle.token('admin')}"

    def salesforce(self) -> Salesforce:
        """simple-salesforce, unmodified, on this emulator."""
        session = self._session()
        return Salesforce(
            instance_url=self.instance_url, session_id=self.token, session=session, version=API
        )

    def _session(self) -> requests.Session:
        # trust_env off: a REQUESTS_CA_BUNDLE in the environment would override verify
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_bundle
        self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every keep-alive connection, so the server can stop at once."""
        for session in self._sessions:
            session.close()

    def url(self, path: str) -> str:
        return f"{self.instance_url}/services/data/v{API}/{path}"

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=60, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        resp = self.raw("GET", path, **kw)
        resp.raise_for_status()
        return resp.json()

    def post(self, path: str, body: Any) -> Any:
        resp = self.raw("POST", path, json=body)
        resp.raise_for_status()
        return resp.json()

    def wait_job(self, kind: str, job_id: str, timeout: float = 60.0) -> Any:
        """Poll ``jobs/{kind}/{id}`` until the job is no longer queued or running."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            info = self.get(f"jobs/{kind}/{job_id}")
            if info["state"] not in ("Open", "UploadComplete", "InProgress"):
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {info['state']} after {timeout}s")
            time.sleep(0.02)

    def query(self, soql: str, include_deleted: bool = False) -> Any:
        """The org's own answer (no HTTP), to compare the Bulk APIs against."""
        assert self.handle.org is not None
        return self.handle.org.query(soql, include_deleted)

    def stats(self) -> Any:
        """``/_emulator/stats`` (as the admin user: the test API is the admin's alone)."""
        return self.handle.stats()


@contextmanager
def emulator_session(**kw: Any) -> Iterator[Emu]:
    """A fresh demo org for one test module."""
    kw.setdefault("seed", "demo")
    with running_emulator(**kw) as handle:
        emu = Emu(handle)
        try:
            yield emu
        finally:
            emu.close()
