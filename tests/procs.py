"""Real child processes that start in milliseconds, for tests where the process is the point.

A crash test kills a run with SIGKILL; a lock test needs a second process holding the store's
lock. Those need a process of their own, but not a new interpreter importing the connector each
time (about a second per start on a loaded 2-core machine). ``start`` forks the child from a
server process that imported the connector once (``multiprocessing``'s forkserver, one per
test process): a fresh process of its own, with its own pid, database connections and signal
handlers, that imported nothing from the test process and shares no thread with it.

    from procs import start_cli

    proc = start_cli(["sync", "--once", "-c", str(cfg)], env=env, folder=tmp_path)
    proc.kill()                      # SIGKILL, as the kernel would
    assert proc.wait() == -signal.SIGKILL

``start_cli`` runs ``prm-connector ARGS`` through ``connector.cli.main`` (the console script's
entry point), so exit codes and stderr are the real ones; ``start`` runs any importable
function. ``env`` is the child's whole environment, as for ``subprocess.Popen``. Use
``subprocess`` when the interpreter's start-up itself is under test.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

__all__ = ["Child", "ready", "start", "start_cli"]

# Imported once by the server; children inherit them already imported.
_PRELOAD = [
    "connector.cli",
    "connector.service",
    "connector.sync.cycle",
    "connector.outbox",
    "connector.triggers",
    "connector.store",
    "connector.salesforce",
    "sqlalchemy",
    "psycopg",
]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(_PRELOAD)
_SEQUENCE = iter(range(1, 1_000_000))


def _run(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    env: dict[str, str],
    out: str,
    err: str,
) -> None:
    """In the child: the given environment and output files, then ``target(*args)``."""
    os.environ.clear()
    os.environ.update(env)
    for stream, path in ((sys.stdout, out), (sys.stderr, err)):
        stream.flush()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, stream.fileno())
        os.close(fd)
    target(*args)


def _cli(argv: list[str]) -> None:
    from connector.cli import main

    sys.argv = ["prm-connector", *argv]
    main(argv)


class Child:
    """A started child: its pid, exit code, signals, and what it wrote to stdout and stderr."""

    def __init__(self, process: BaseProcess, out: Path, err: Path) -> None:
        self.process = process
        self._out = out
        self._err = err

    @property
    def pid(self) -> int:
        pid = self.process.pid
        assert pid is not None
        return pid

    def poll(self) -> int | None:
        """The exit code (negative: killed by that signal), or None while it runs."""
        return self.process.exitcode

    def wait(self, timeout: float = 300.0) -> int:
        """Wait for the child to end; returns its exit code."""
        self.process.join(timeout)
        code = self.process.exitcode
        if code is None:
            self.kill()
            raise TimeoutError(f"child {self.pid} still running after {timeout} s")
        return code

    def send_signal(self, sig: int) -> None:
        if self.process.exitcode is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        self.send_signal(signal.SIGKILL)
        self.process.join(30)

    @property
    def stdout(self) -> str:
        return self._out.read_text(errors="replace") if self._out.exists() else ""

    @property
    def stderr(self) -> str:
        return self._err.read_text(errors="replace") if self._err.exists() else ""

    def output_until(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        """Wait until ``predicate(stderr so far)`` holds (False if the child ends first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.stderr):
                return True
            if self.poll() is not None:
                return predicate(self.stderr)
            time.sleep(0.02)
        return predicate(self.stderr)


def ready() -> None:
    """Start the server now (it starts with the first child otherwise): for a test that times
    how long a child takes."""
    from multiprocessing import forkserver

    forkserver.ensure_running()


def start(
    target: Callable[..., Any],
    *args: Any,
    env: Mapping[str, str] | None = None,
    folder: Path,
) -> Child:
    """Run ``target(*args)`` in a new child process; stdout and stderr go to files in
    ``folder``. ``target`` must be importable by name (a module-level function)."""
    n = next(_SEQUENCE)
    out, err = folder / f"child-{n}.out", folder / f"child-{n}.err"
    environment = dict(os.environ if env is None else env)
    process = _CONTEXT.Process(
        target=_run, args=(target, args, environment, str(out), str(err)), daemon=True
    )
    process.start()
    return Child(process, out, err)


def start_cli(
    argv: list[str], *, env: Mapping[str, str] | None = None, folder: Path
) -> Child:
    """Run ``prm-connector ARGV`` in a new child process (see ``start``)."""
    return start(_cli, list(argv), env=env, folder=folder)
