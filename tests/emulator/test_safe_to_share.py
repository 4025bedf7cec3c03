"""An emulator a team can share: admin-only test API, checked input, bounded bodies, a state
file that is data (never pickle) and refused when tampered with."""

from __future__ import annotations

import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from procs import start_cli

from connector.emulator.org import Org
from connector.emulator.persist import StateError
from connector.emulator.server import is_loopback
from connector.emulator.testing import EmulatorHandle, running_emulator


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="demo", max_body_bytes=64_000) as handle:
        yield handle


def _as(emu: EmulatorHandle, user: str, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method,
        f"{emu.instance_url}{path}",
        headers={"Authorization": f"Bearer {emu.token(user)}", **kw.pop("headers", {})},
        verify=emu.ca_bundle,
        timeout=120,
        **kw,
    )


@pytest.mark.parametrize("user", ["integration", "partner"])
def test_only_the_admin_may_use_the_test_api(emu: EmulatorHandle, user: str) -> None:
    """A partner (or the connector's own user) cannot wipe a shared org."""
    for method, path in (("GET", "/_emulator/stats"), ("POST", "/_emulator/reset"),
                         ("POST", "/_emulator/faults"), ("POST", "/_emulator/purge"),
                         ("GET", "/_emulator/outbound")):
        resp = _as(emu, user, method, path, json={})
        assert resp.status_code == 403, (user, path)
        assert resp.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS"
    assert _as(emu, "admin", "GET", "/_emulator/stats").status_code == 200
    assert requests.get(f"{emu.instance_url}/_emulator/stats", verify=emu.ca_bundle,
                        timeout=30).status_code == 401


@pytest.mark.parametrize(("path", "body", "field"), [
    ("reset", {"records": "many"}, "records"),
    ("reset", {"records": -1}, "records"),
    ("reset", {"seed": "everything"}, "seed"),
    ("clock", {"offset_seconds": "soon"}, "offset_seconds"),
    ("clock", {"freeze": "yes"}, "freeze"),
    ("sessions", {"ttl_seconds": [1]}, "ttl_seconds"),
    ("purge", {"ids": "001"}, "ids"),
    ("limits", {"api_limit": 1.5}, "api_limit"),
    ("faults", {"rate": 2}, None),
    ("faults", {"latency_ms": "slow"}, None),
])
def test_bad_test_api_input_is_400(emu: EmulatorHandle, path: str, body: dict[str, Any],
                                   field: str | None) -> None:
    resp = _as(emu, "admin", "POST", f"/_emulator/{path}", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()[0]["errorCode"] == "INVALID_INPUT"
    if field:
        assert resp.json()[0]["fields"] == [field]
    assert _as(emu, "admin", "POST", "/_emulator/reset", data=b"[1,").status_code == 400


def test_bodies_over_the_limit_get_413(emu: EmulatorHandle) -> None:
    """Declared or chunked, a body over the limit is refused before it is buffered."""
    big = orjson.dumps({"Name": "x" * 70_000})
    resp = _as(emu, "integration", "POST", "/services/data/v62.0/sobjects/Account", data=big,
               headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()[0]["errorCode"] == "REQUEST_ENTITY_TOO_LARGE"

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 10_000

    resp = _as(emu, "integration", "POST", "/services/data/v62.0/sobjects/Account",
               data=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    ok = _as(emu, "integration", "POST", "/services/data/v62.0/sobjects/Account",
             json={"Name": "Small enough"})
    assert ok.status_code == 201


def test_deeply_nested_soql_is_malformed_not_a_crash(emu: EmulatorHandle) -> None:
    for where in ("(" * 5000 + "Name = 'x'" + ")" * 5000, "NOT " * 5000 + "Name = 'x'"):
        resp = _as(emu, "integration", "GET", "/services/data/v62.0/query",
                   params={"q": f"SELECT Id FROM Account WHERE {where}"})
        assert resp.status_code == 400
        assert resp.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_a_large_reset_does_not_stall_other_requests(emu: EmulatorHandle) -> None:
    """The new org is built off the lock: calls made while it builds are answered."""
    done = threading.Event()

    def reset() -> None:
        _as(emu, "admin", "POST", "/_emulator/reset", json={"seed": "demo", "records": 20_000})
        done.set()

    worker = threading.Thread(target=reset)
    worker.start()
    answered_meanwhile = 0
    while not done.is_set():
        resp = _as(emu, "integration", "GET", "/services/data/v62.0/limits")
        assert resp.status_code == 200
        answered_meanwhile += not done.is_set()
    worker.join()
    assert answered_meanwhile > 0
    assert _as(emu, "admin", "GET", "/_emulator/stats").json()["records"]["Opportunity"] > 20_000
    _as(emu, "admin", "POST", "/_emulator/reset", json={"seed": "demo"})


def test_state_is_sealed_json_readable_by_its_owner_only(tmp_path: Path) -> None:
    org = Org(seed="demo", state_dir=tmp_path)
    org.save()
    for name in ("org.json", "state.key"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))
    saved = orjson.loads((tmp_path / "org.json").read_bytes())
    assert saved["format"] == "prm-connector emulator state" and saved["version"] == 1
    again = Org(seed="empty", state_dir=tmp_path)
    assert again.store["Account"] == org.store["Account"]
    assert again.users == org.users


@pytest.mark.parametrize("damage", ["edit", "foreign", "not json", "other org", "pickle"])
def test_a_tampered_or_foreign_state_file_is_refused(tmp_path: Path, damage: str) -> None:
    Org(seed="demo", state_dir=tmp_path).save()
    path = tmp_path / "org.json"
    saved = orjson.loads(path.read_bytes())
    if damage == "edit":
        saved["data"]["api_used"] = 7
        path.write_bytes(orjson.dumps(saved))
        expected = "seal does not match"
    elif damage == "foreign":
        path.write_bytes(orjson.dumps({"hello": "world"}))
        expected = "not an emulator state file"
    elif damage == "not json":
        path.write_bytes(b"\x80\x04\x95")
        expected = "not JSON"
    elif damage == "other org":
        saved["organization_id"] = "00D000000000001AAA"
        path.write_bytes(orjson.dumps(saved))
        expected = "another org"
    else:
        path.unlink()
        (tmp_path / "org.pickle").write_bytes(b"\x80\x04K\x01.")
        expected = "never loaded"
    with pytest.raises(StateError, match=expected):
        Org(seed="empty", state_dir=tmp_path)


def test_serve_refuses_a_tampered_state_with_one_line_and_exit_2(tmp_path: Path) -> None:
    Org(seed="empty", state_dir=tmp_path).save()
    saved = orjson.loads((tmp_path / "org.json").read_bytes())
    saved["data"]["api_used"] = 1
    (tmp_path / "org.json").write_bytes(orjson.dumps(saved))
    proc = start_cli(["emulator", "serve", "--state-dir", str(tmp_path)], folder=tmp_path)
    assert proc.wait(120) == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "seal does not match" in lines[0] and "Traceback" not in lines[0]


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.5.0.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "::", "example.com"))


def test_binding_beyond_loopback_prints_a_warning(tmp_path: Path) -> None:
    proc = start_cli(["emulator", "serve", "--host", "0.0.0.0", "--port", "0"], folder=tmp_path)
    try:
        assert proc.output_until(lambda _err: "\n" in proc.stdout, 60), proc.stderr
        line = proc.stdout.splitlines()[0]
        assert orjson.loads(line)["instance_url"].startswith("https://0.0.0.0:")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert "warning: the emulator listens on 0.0.0.0" in proc.stderr
