"""`emulator serve --env-file` writes the PRM_SF_* variables: two commands to a working setup.

The emulator runs in a process of its own (from the forkserver); `init` and `sync --once` run
in-process through the CLI's entry point, with only the file's variables set."""

from __future__ import annotations

import json
import os
import shlex
import signal
from pathlib import Path

from procs import start_cli

from .daemons import wait_for
from clirunner import invoke


def test_env_file_points_the_default_config_at_the_emulated_org(tmp_path: Path) -> None:
    """Given `emulator serve --env-file F`, F (mode 0600) holds the six PRM_SF_* variables,
    and `sync --once` with the default config and only those variables syncs the org."""
    env_file = tmp_path / "emulator.env"
    proc = start_cli(
        ["emulator", "serve", "--seed", "demo", "--env-file", str(env_file)], folder=tmp_path
    )
    try:
        assert wait_for(lambda: "\n" in proc.stdout or proc.poll() is not None, 60)
        info = json.loads(proc.stdout.splitlines()[0])
        assert env_file.stat().st_mode & 0o777 == 0o600
        values = dict(
            shlex.split(line)[0].split("=", 1)
            for line in env_file.read_text().splitlines()
            if line and not line.startswith("#")
        )
        assert set(values) == {
            "PRM_SF_LOGIN_URL",
            "PRM_SF_USERNAME",
            "PRM_SF_PASSWORD",
            "PRM_SF_CLIENT_ID",
            "PRM_SF_CLIENT_SECRET",
            "PRM_SF_CA_BUNDLE",
            "PRM_SF_PUBSUB_ENDPOINT",
        }
        assert values["PRM_SF_LOGIN_URL"] == info["login_url"]
        assert values["PRM_SF_PUBSUB_ENDPOINT"] == info["pubsub_endpoint"]
        assert values["PRM_SF_USERNAME"] == info["users"]["integration"]["username"]
        assert invoke("init", str(tmp_path / "cfg")).exit_code == 0
        only: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PRM_")}
        res = invoke(
            "-c",
            str(tmp_path / "cfg" / "connector.yaml"),
            "sync",
            "--once",
            "--json",
            env={**only, **values},
        )
        assert res.exit_code == 0, res.stderr
        assert "partner" in res.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
