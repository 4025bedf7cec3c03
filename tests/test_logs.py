"""connector.logs: structlog is imported only when an event at an enabled level is emitted, and
then with the configuration the command asked for (level, JSON lines, secrets scrubbed)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import sys
from connector.logs import configure_logging, get_logger
configure_logging("WARNING", json_logs=True)
log = get_logger("connector.test")
log.info("quiet.info", detail="dropped")
print("after-info", "structlog" in sys.modules, flush=True)
log.warning("loud.warning", detail="password=hunter2")
print("after-warning", "structlog" in sys.modules, flush=True)
"""


def _run(probe: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )


def test_an_event_below_the_level_imports_nothing_and_one_above_is_logged_as_configured() -> None:
    out = _run(_PROBE)
    assert out.stdout.split() == ["after-info", "False", "after-warning", "True"]
    lines = [json.loads(x) for x in out.stderr.splitlines() if x.strip()]
    assert [x["event"] for x in lines] == ["loud.warning"]
    assert lines[0]["level"] == "warning"
    assert lines[0]["detail"] == "password=[redacted]"
    assert "timestamp" in lines[0]


def test_a_configuration_made_after_structlog_is_loaded_applies_at_once() -> None:
    probe = """
import structlog
from connector.logs import configure_logging, get_logger
configure_logging("INFO", json_logs=True)
structlog.get_logger("other").info("direct.info")
get_logger("connector.test").debug("quiet.debug")
get_logger("connector.test").info("lazy.info")
"""
    out = _run(probe)
    events = [json.loads(x)["event"] for x in out.stderr.splitlines() if x.strip()]
    assert events == ["direct.info", "lazy.info"]
