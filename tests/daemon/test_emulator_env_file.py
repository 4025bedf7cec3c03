"""`emulator serve --env-file` writes the PRM_SF_* variables: two commands to a working setup."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from test_cli import run_cli


def test_env_file_points_the_default_config_at_the_emulated_org(tmp_path: Path) -> None:
    """Given `emulator serve --env-file F`, F (mode 0600) holds the six PRM_SF_* variables,
    and `sync --once` with the default config and only those variables syncs the org."""
    env_file = tmp_path / "emulator.env"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connector",
            "emulator",
            "serve",
            "--seed",
            "demo",
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
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
        }
        assert values["PRM_SF_LOGIN_URL"] == info["login_url"]
        assert values["PRM_SF_USERNAME"] == info["users"]["integration"]["username"]
        assert run_cli("init", str(tmp_path / "cfg")).returncode == 0
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "connector",
                "-c",
                str(tmp_path / "cfg" / "connector.yaml"),
                "sync",
                "--once",
                "--json",
            ],
            capture_output=True,
            text=True,
            env={**clean, **values},
            timeout=300,
        )
        assert res.returncode == 0, res.stderr
        assert "partner" in res.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
