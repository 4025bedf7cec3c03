"""Run ``prm-connector`` in the test process: same exit codes and output, no interpreter start.

    from clirunner import invoke

    res = invoke("check", "--offline", "-c", str(cfg), env={"PRM_SF_USERNAME": "u"})
    assert res.exit_code == 2 and "connector.yaml:12:" in res.stderr

It goes through ``connector.cli.main``, the console script's entry point, so a ConfigError
becomes exit 2 with its file:line line on stderr exactly as in a shell. ``env`` is laid over
``os.environ`` for the call (a value of None removes the variable); the environment, the
logging setup and the working directory are restored afterwards. Use a subprocess instead
when the process itself is under test: signals, locks held across processes, start-up.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from connector.cli import main

__all__ = ["CliResult", "invoke"]


@dataclass(frozen=True)
class CliResult:
    """What a shell would have seen."""

    exit_code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: Mapping[str, str | None]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def invoke(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path | None = None
) -> CliResult:
    """Run ``prm-connector ARGS`` in-process and return its exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    logging_config = structlog.get_config()
    code = 0
    with (
        _environment(env or {}),
        contextlib.chdir(cwd or Path.cwd()),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            main(list(args))
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            if isinstance(done.code, str):
                err.write(done.code + "\n")
        finally:
            structlog.configure(**logging_config)
    return CliResult(code, out.getvalue(), err.getvalue())
