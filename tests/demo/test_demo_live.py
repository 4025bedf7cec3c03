"""`prm-connector demo --live`: after the story the daemon keeps running on the demo's org;
a registration the partner submits is pushed by Outbound Message and approved."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from procs import start

pytestmark = pytest.mark.slow


def _token(info: dict[str, Any]) -> tuple[str, str]:
    resp = requests.post(
        f"{info['login_url']}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "username": info["partner"]["username"],
            "password": info["partner"]["password"],
        },
        verify=info["ca_bundle"],
        timeout=30,
    )
    resp.raise_for_status()
    body = resp.json()
    return body["access_token"], body["instance_url"]


def _demo_live_in(folder: str) -> None:
    """In the child: `prm-connector demo --live --json` run from ``folder``."""
    from connector.cli import main

    os.chdir(folder)
    main(["demo", "--live", "--json"])


def test_live_demo_approves_a_pushed_registration_then_stops_on_sigterm(tmp_path: Path) -> None:
    """Given `demo --live`, when the partner submits a registration, then the daemon approves
    it without waiting for a poll, and SIGTERM stops everything with exit 0."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
    # a process of its own (from the forkserver), started in the demo's folder
    proc = start(_demo_live_in, str(tmp_path), env=env, folder=tmp_path)
    try:
        info: dict[str, Any] | None = None
        deadline = time.monotonic() + 300
        while info is None and time.monotonic() < deadline:
            lines = [x for x in proc.stdout.splitlines() if x.startswith('{"live"')]
            if lines:
                info = json.loads(lines[0])["live"]
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        assert info is not None, proc.stderr if proc.poll() is not None else "no live line"
        assert requests.get(f"{info['receiver']}/healthz", timeout=10).status_code == 200
        token, instance = _token(info)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"{instance}/services/data/v62.0"
        created = requests.post(
            f"{base}/sobjects/Deal_Registration__c",
            json={
                "Name": "DR-2001",
                "Partner__c": "0015g0000000001AAA",  # Northwind: active, certified
                "End_Customer_Name__c": "Live Pushed Ltd",
                "End_Customer_Domain__c": "livepushed.example",
                "Amount__c": 20000.0,
                "Status__c": "Submitted",
            },
            headers=headers,
            verify=info["ca_bundle"],
            timeout=30,
        )
        assert created.status_code == 201, created.text
        reg_id = created.json()["id"]
        status = None
        deadline = time.monotonic() + 60  # the daemon polls every 30 s: push must beat that
        while time.monotonic() < deadline and status != "Approved":
            time.sleep(0.5)
            got = requests.get(
                f"{base}/sobjects/Deal_Registration__c/{reg_id}",
                headers=headers,
                verify=info["ca_bundle"],
                timeout=30,
            )
            status = got.json().get("Status__c")
        assert status == "Approved"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, proc.stderr
