"""Run the real tap-salesforce (Singer) against the emulator and check what it extracts.

    python bench/peers/tap_salesforce.py [--records N] [--api-type REST|BULK] [--keep DIR]

1. Creates bench/peers/.venv-tap (once) with ``pip install 'tap-salesforce==2.8.*'``.
2. Starts ``python -m connector emulator serve --port 0 --seed demo`` and reads its JSON line.
3. Writes the tap config (client id/secret, the integration user's refresh token) and a shim:
   a ``sitecustomize.py`` on the tap's PYTHONPATH that sends the tap's hard-coded
   ``https://login.salesforce.com`` token request to the emulator's login URL; the emulator's
   CA reaches ``requests`` through REQUESTS_CA_BUNDLE.
4. Runs ``tap-salesforce --discover``, selects Opportunity, runs the sync, and compares the
   Opportunity RECORD ids with ``queryAll SELECT Id FROM Opportunity`` on the emulator.

Prints one JSON summary line; exits 0 when the ids match exactly, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv-tap"
sys.path.insert(0, str(HERE))  # callrecord, beside this script
TAP_SPEC = "tap-salesforce==2.8.*"
STREAM = "Opportunity"

SHIM = '''\
"""Shim for tap-salesforce against the emulator: its login URL is hard-coded."""
import os

_LOGIN = os.environ.get("TAP_SF_LOGIN_URL", "").rstrip("/")
if _LOGIN:
    try:
        import tap_salesforce.salesforce as _tsf
    except ImportError:  # not the tap's interpreter
        _tsf = None
    if _tsf is not None:
        _original = _tsf.Salesforce._make_request

        def _make_request(self, http_method, url, *args, **kwargs):
            for host in ("https://login.salesforce.com", "https://test.salesforce.com"):
                if url.startswith(host):
                    url = _LOGIN + url[len(host):]
            return _original(self, http_method, url, *args, **kwargs)

        _tsf.Salesforce._make_request = _make_request
'''


def ensure_venv() -> Path:
    """The tap's console script, installing the virtualenv on first use."""
    tap = VENV / "bin" / "tap-salesforce"
    if tap.exists():
        return tap
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", TAP_SPEC], check=True)
    return tap


def start_emulator(records: int | None) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The emulator subprocess and its ready line."""
    cmd = [sys.executable, "-m", "connector", "emulator", "serve", "--port", "0", "--seed", "demo"]
    if records:
        cmd += ["--records", str(records)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        err = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"emulator did not start: {err[-2000:]}")
    return proc, json.loads(line)


def access_token(info: dict[str, Any]) -> str:
    """An access token for the integration user (refresh-token grant, like the tap)."""
    resp = requests.post(
        info["login_url"].rstrip("/") + "/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": info["users"]["integration"]["refresh_token"],
        },
        verify=info["ca_bundle"],
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def call_log(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The distinct calls the emulator answered so far (``/_emulator/calls``, as the admin)."""
    from callrecord import fold

    admin = info["users"]["admin"]
    token = requests.post(
        info["login_url"].rstrip("/") + "/services/oauth2/token",
        data={"grant_type": "password", "client_id": info["client_id"],
              "client_secret": info["client_secret"], "username": admin["username"],
              "password": admin["password"]},
        verify=info["ca_bundle"], timeout=30,
    ).json()["access_token"]
    resp = requests.get(info["instance_url"].rstrip("/") + "/_emulator/calls",
                        headers={"Authorization": f"Bearer {token}"},
                        verify=info["ca_bundle"], timeout=30)
    resp.raise_for_status()
    return fold(resp.json()["calls"])


def org_ids(info: dict[str, Any], token: str, soql: str) -> list[str]:
    """Every Id a queryAll returns, following nextRecordsUrl."""
    base = info["instance_url"].rstrip("/")
    url: str | None = f"{base}/services/data/v61.0/queryAll"
    params: dict[str, str] | None = {"q": soql}
    ids: list[str] = []
    while url:
        resp = requests.get(
            url,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            verify=info["ca_bundle"],
            timeout=60,
        )
        resp.raise_for_status()
        body = resp.json()
        ids.extend(r["Id"] for r in body["records"])
        url = base + body["nextRecordsUrl"] if body.get("nextRecordsUrl") else None
        params = None
    return ids


def select_stream(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    """The catalog with only ``stream`` selected, replicated INCREMENTAL on its replication
    key (SystemModstamp), as a Singer user selects it; fields are selected by default."""
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] == stream
        for md in entry["metadata"]:
            if md["breadcrumb"] == []:
                md["metadata"]["selected"] = selected
                keys = md["metadata"].get("valid-replication-keys") or []
                if selected and keys:
                    md["metadata"]["replication-method"] = "INCREMENTAL"
                    md["metadata"]["replication-key"] = keys[0]
    return catalog


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    tap = ensure_venv()
    proc, info = start_emulator(args.records)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tap-sf-"))
    work.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"peer": "tap-salesforce", "api_type": args.api_type}
    try:
        shim_dir = work / "shim"
        shim_dir.mkdir(exist_ok=True)
        (shim_dir / "sitecustomize.py").write_text(SHIM)
        config = {
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "refresh_token": info["users"]["integration"]["refresh_token"],
            "start_date": "2000-01-01T00:00:00Z",
            "api_type": args.api_type,
            "select_fields_by_default": True,
            "quota_percent_total": 95,
            "quota_percent_per_run": 95,
        }
        (work / "config.json").write_text(json.dumps(config, indent=2))
        env = {
            **os.environ,
            "PYTHONPATH": str(shim_dir),
            "TAP_SF_LOGIN_URL": info["login_url"],
            "REQUESTS_CA_BUNDLE": info["ca_bundle"],
        }
        t0 = time.monotonic()
        disc = subprocess.run(
            [str(tap), "--config", str(work / "config.json"), "--discover"],
            capture_output=True,
            text=True,
            env=env,
            timeout=args.timeout,
        )
        summary["discover_seconds"] = round(time.monotonic() - t0, 2)
        (work / "discover.stderr").write_text(disc.stderr)
        if disc.returncode != 0:
            summary.update(ok=False, stage="discover", stderr_tail=_tail(disc.stderr))
            return summary
        catalog = json.loads(disc.stdout)
        summary["streams_discovered"] = len(catalog["streams"])
        (work / "catalog.json").write_text(json.dumps(select_stream(catalog, STREAM)))

        t0 = time.monotonic()
        sync = subprocess.run(
            [
                str(tap),
                "--config",
                str(work / "config.json"),
                "--properties",
                str(work / "catalog.json"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=args.timeout,
        )
        summary["sync_seconds"] = round(time.monotonic() - t0, 2)
        (work / "sync.stdout").write_text(sync.stdout)
        (work / "sync.stderr").write_text(sync.stderr)
        if sync.returncode != 0:
            summary.update(ok=False, stage="sync", stderr_tail=_tail(sync.stderr))
            return summary

        if args.calls:  # before our own check below adds calls of its own
            args.calls.write_text(json.dumps(call_log(info), indent=1) + "\n")
        ids: list[str] = []
        for line in sync.stdout.splitlines():
            msg = json.loads(line)
            if msg.get("type") == "RECORD" and msg.get("stream") == STREAM:
                ids.append(msg["record"]["Id"])
        expected = org_ids(info, access_token(info), f"SELECT Id FROM {STREAM}")
        summary.update(
            records_extracted=len(ids),
            org_records=len(expected),
            duplicates=len(ids) - len(set(ids)),
            missing=sorted(set(expected) - set(ids))[:20],
            extra=sorted(set(ids) - set(expected))[:20],
        )
        summary["ok"] = set(ids) == set(expected) and len(ids) == len(expected)
        summary["stage"] = "done"
        return summary
    finally:
        summary["seconds"] = round(time.monotonic() - started, 2)
        summary["workdir"] = str(work)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _tail(text: str, lines: int = 25) -> list[str]:
    return text.strip().splitlines()[-lines:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=None, help="emulator --records N")
    parser.add_argument("--api-type", default="REST", choices=["REST", "BULK"])
    parser.add_argument("--calls", type=Path, default=None,
                        help="write the distinct calls the tap made here (JSON)")
    parser.add_argument("--keep", default=None, help="work directory to keep (default: temp)")
    parser.add_argument("--timeout", type=float, default=600.0)
    summary = run(parser.parse_args())
    print(json.dumps(summary))
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
