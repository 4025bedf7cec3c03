"""The shipped systemd unit runs a command that exists and stops the way the daemon expects."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from test_cli import _commands

ROOT = Path(__file__).resolve().parents[2]


def test_the_systemd_unit_runs_the_daemon_and_gives_sigterm_time_to_finish() -> None:
    """ExecStart is `prm-connector -c ... run --listen ...`; SIGTERM with >= 10 s to stop."""
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "examples" / "prm-connector.service")
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].endswith("/prm-connector")
    assert argv[1] == "-c" and argv[3] == "run" and "run" in _commands()
    run = _commands()["run"]
    options = {o for p in run.params for o in p.opts}
    assert {a for a in argv[4:] if a.startswith("--")} <= options
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) >= 10
    assert "examples/prm-connector.service" in (ROOT / "README.md").read_text()
