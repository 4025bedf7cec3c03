"""Commands that read the store alone start without any PRM_SF_* variable; the daemon serves
the page under /ops/ and refuses a non-loopback bind without ops.token."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConfigError
from web.opsfixtures import NO_SF_ENV

from clirunner import invoke


@pytest.fixture
def default_config(demo_store: Path, tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    """`init`'s connector.yaml (which reads PRM_SF_*), over a copy of the demo's store."""
    res = invoke("init", str(tmp_path / "cfg"), env=NO_SF_ENV)
    assert res.exit_code == 0, res.stderr
    shutil.copy(demo_store / "prm.db", tmp_path / "prm.db")
    env = {**NO_SF_ENV, "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'prm.db'}"}
    return tmp_path / "cfg" / "connector.yaml", env


@pytest.mark.parametrize("command", [
    ["status", "--json"], ["outbox", "list"], ["outbox", "conflicts"], ["triggers", "log"],
    ["export", "partner"], ["partner", "show", "1"], ["partner", "eligible", "1"],
    ["programs", "show"], ["segments", "preview", "cloud-certified"],
    ["triggers", "replay", "--since", "2020-01-01"],
])
def test_store_only_commands_need_no_salesforce_variables(
        default_config: tuple[Path, dict[str, str | None]], command: list[str]) -> None:
    config, env = default_config
    res = invoke("-c", str(config), *command, env=env)
    assert res.exit_code == 0, res.stderr


def test_outbox_retry_and_drop_need_no_salesforce_variables(
        default_config: tuple[Path, dict[str, str | None]]) -> None:
    config, env = default_config
    res = invoke("-c", str(config), "outbox", "retry", "--all", "--json", env=env)
    assert res.exit_code == 0, res.stderr
    assert '"retried"' in res.stdout


def test_commands_that_call_salesforce_still_name_the_missing_variable(
        default_config: tuple[Path, dict[str, str | None]]) -> None:
    config, env = default_config
    res = invoke("-c", str(config), "sync", "--once", env=env)
    assert res.exit_code == 2 and "PRM_SF_LOGIN_URL" in res.stderr


def _daemon(config: Path, listen: str) -> Any:
    from connector.cli.common import store_runtime
    from connector.daemon.runner import Daemon, DaemonOptions

    rt = store_runtime(config)
    try:
        return Daemon(rt, DaemonOptions(listen=listen)), rt
    except BaseException:
        rt.close()
        raise


def test_the_daemon_serves_the_page_under_ops(ops_config: Path) -> None:
    from starlette.testclient import TestClient

    daemon, rt = _daemon(ops_config, "127.0.0.1:0")
    try:
        app = daemon.http.server.config.app
        with TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 1)) as client:
            assert client.get("/healthz").status_code == 200
            page = client.get("/ops/")
            assert page.status_code == 200
            # the daemon runs: the overview refreshes itself
            assert 'http-equiv="refresh"' in page.text and "running" in page.text
            assert client.get("/ops", follow_redirects=False).status_code == 307
    finally:
        daemon.http.stop()
        rt.close()


def test_the_daemon_refuses_a_public_bind_without_the_ops_token(ops_config: Path) -> None:
    with pytest.raises(ConfigError, match=r"ops\.token"):
        _daemon(ops_config, "0.0.0.0:0")


def test_the_overview_refreshes_itself_while_a_daemon_holds_the_store(ops_config: Path) -> None:
    from connector.service.lock import STORE_LOCK
    from connector.store import acquire_run_lock
    from web.opsfixtures import ops_client

    for client in ops_client(ops_config):
        assert 'http-equiv="refresh"' not in client.get("/ops/").text
        holder = "prm daemon 4242 2026-12-07T22:00:00Z"
        with acquire_run_lock(client.rt.engine, STORE_LOCK, holder=holder) as ok:
            assert ok
            page = client.get("/ops/").text
            assert 'http-equiv="refresh"' in page and "running" in page
        # a one-off run (sync, record ...) holding the store is not a daemon
        with acquire_run_lock(client.rt.engine, STORE_LOCK,
                              holder="prm sync 4243 2026-12-07T22:00:00Z"):
            assert 'http-equiv="refresh"' not in client.get("/ops/").text


def test_ops_serves_until_sigterm_without_salesforce_variables(ops_config: Path) -> None:
    """`prm-connector ops` as an operator runs it: one line with the URL, pages served over
    the store, a clean exit on SIGTERM."""
    import json
    import os
    import re
    import signal
    import time
    import urllib.request

    from procs import start_cli

    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
    child = start_cli(["-c", str(ops_config), "ops", "--listen", "127.0.0.1:0"], env=env,
                      folder=ops_config.parent)
    try:
        deadline = time.monotonic() + 60
        while "/ops/" not in child.stdout and child.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        found = re.search(r"http://127\.0\.0\.1:\d+/ops/", child.stdout)
        assert found, (child.stdout, child.stderr)
        request = urllib.request.Request(found.group(0) + "outbox?status=dead",
                                         headers={"accept": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
            assert len(json.load(answer)["items"]) == 3
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0
    finally:
        if child.poll() is None:
            child.kill()
