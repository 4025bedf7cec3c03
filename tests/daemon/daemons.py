"""Run `prm-connector run` in a process of its own, as an operator would, and watch its JSON
logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from procs import start_cli

__all__ = ["DaemonProcess", "wait_for"]


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class DaemonProcess:
    """One daemon in a process of its own (from the forkserver); its stderr JSON lines are
    read as events."""

    def __init__(self, config: Path, env: dict[str, str], *, poll_interval: float) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
        self.proc = start_cli(
            [
                "-c",
                str(config),
                "run",
                "--listen",
                "127.0.0.1:0",
                "--poll-interval",
                str(poll_interval),
            ],
            env={**clean, **env},
            folder=config.parent,
        )

    @property
    def lines(self) -> list[str]:
        """The stderr lines written so far (a partial last line is left for the next read)."""
        text = self.proc.stderr
        return text.splitlines(keepends=True)[: text.count("\n")]

    @property
    def events(self) -> list[dict[str, Any]]:
        """The JSON log events written so far."""
        out: list[dict[str, Any]] = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def saw(self, event: str, times: int = 1) -> bool:
        """Whether the daemon logged ``event`` (at least ``times`` times)."""
        return sum(e.get("event") == event for e in self.events) >= times

    def count(self, event: str) -> int:
        """How many times the daemon logged ``event``."""
        return sum(e.get("event") == event for e in self.events)

    def wait_event(self, event: str, timeout: float = 60.0, times: int = 1) -> bool:
        """Wait until the daemon logs ``event`` (``times`` times); False if it exits or times
        out first."""
        return wait_for(
            lambda: self.saw(event, times) or self.proc.poll() is not None, timeout
        ) and self.saw(event, times)

    @property
    def url(self) -> str:
        """The receiver's base URL (from the daemon.listening event)."""
        assert self.wait_event("daemon.listening"), self.output()
        return next(e["url"] for e in self.events if e.get("event") == "daemon.listening")

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        self.proc.kill()

    def output(self) -> str:
        return "".join(self.lines[-40:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
