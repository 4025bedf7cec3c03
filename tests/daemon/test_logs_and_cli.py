"""The daemon's logs are JSON lines with secrets scrubbed, stdlib loggers included; `run`
refuses bad arguments with exit 2 and a busy port with exit 1, in one line each."""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

import pytest
import structlog
from procs import start_cli

from connector.logs import configure_logging

from clirunner import invoke


def test_structlog_and_stdlib_loggers_share_one_json_pipeline_that_scrubs_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A structlog event and a uvicorn (stdlib) record both come out as JSON, secrets gone."""
    configure_logging("INFO", json_logs=True, stdlib=True)
    try:
        structlog.get_logger("connector.daemon").info(
            "daemon.test", detail="password=hunter2 Bearer abc.def"
        )
        logging.getLogger("uvicorn.error").warning("client sent access_token=00Dxx!secretvalue")
        logging.getLogger("apscheduler.scheduler").info("Running job (chatty)")
    finally:
        configure_logging("WARNING")
        logging.getLogger().handlers = []
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert [x["event"] for x in lines] == [
        "daemon.test",
        "client sent access_token=[redacted]",
    ]
    assert lines[0]["detail"] == "password=[redacted] Bearer [redacted]"
    assert lines[1]["level"] == "warning" and lines[1]["logger"] == "uvicorn.error"
    assert all("timestamp" in x for x in lines)


def test_run_rejects_a_bad_listen_address_with_exit_2(tmp_path: Path) -> None:
    """--listen without a port is bad input: exit 2 before anything starts."""
    res = invoke("run", "--listen", "localhost", "-c", str(tmp_path / "none.yaml"))
    assert res.exit_code == 2
    assert "HOST:PORT" in res.stderr


def test_run_on_a_busy_port_exits_1_with_one_line(tmp_path: Path) -> None:
    """A port another process holds: exit 1 and a one-line reason, no traceback."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        # the daemon in a process of its own (from the forkserver): it installs signal handlers
        res = start_cli(
            ["run", "--listen", f"127.0.0.1:{port}", "-c", str(tmp_path / "connector.yaml")],
            env={
                **os.environ,
                "PRM_SF_LOGIN_URL": "https://127.0.0.1:9",
                "PRM_SF_USERNAME": "u@example.com",
                "PRM_SF_PASSWORD": "pw",
                "PRM_SF_CLIENT_ID": "cid",
                "PRM_SF_CLIENT_SECRET": "secret",
                "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            },
            folder=tmp_path,
        )
        code = res.wait(120)
    assert code == 1, res.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr
