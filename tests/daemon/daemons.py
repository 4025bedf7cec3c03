"""Run `prm-connector run` as a subprocess, as an operator would, and watch its JSON logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

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
    """One daemon subprocess; its stderr JSON lines are collected as events."""

    def __init__(self, config: Path, env: dict[str, str], *, poll_interval: float) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "-c",
                str(config),
                "run",
                "--listen",
                "127.0.0.1:0",
                "--poll-interval",
                str(poll_interval),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **env},
        )
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def saw(self, event: str) -> bool:
        """Whether the daemon logged ``event``."""
        return any(e.get("event") == event for e in list(self.events))

    def wait_event(self, event: str, timeout: float = 60.0) -> bool:
        """Wait until the daemon logs ``event`` (False if it exits or times out first)."""
        return wait_for(lambda: self.saw(event) or self.proc.poll() is not None, timeout) and (
            self.saw(event)
        )

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
        self.proc.wait(30)

    def output(self) -> str:
        return "".join(self.lines[-40:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
