"""Logging setup for the CLI and daemon: structlog, secrets scrubbed from every event.

With ``stdlib=True`` (the daemon) the standard library's loggers (uvicorn, alembic, sqlalchemy,
apscheduler) go through the same processors and renderer, so every line is one JSON object
with its secrets scrubbed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

__all__ = ["configure_logging", "current_level"]

_LEVEL = {"name": "WARNING"}
# Chatty at INFO about every job they run: kept at WARNING unless DEBUG is asked for.
_QUIET = ("apscheduler", "sqlalchemy", "alembic.runtime.migration")


class _Stderr:
    """Whatever ``sys.stderr`` is at write time (test runners and daemons swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _Stderr()


def _scrub(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Scrub secrets from an event (connector.salesforce is imported on the first log line)."""
    from connector.salesforce import scrub_event

    return scrub_event(logger, method, event)


def current_level() -> str:
    """The level the last configure_logging call set (e.g. "WARNING")."""
    return _LEVEL["name"]


def configure_logging(
    level: str = "WARNING", *, json_logs: bool | None = None, stdlib: bool = False
) -> None:
    """Send structured logs to stderr: readable on a terminal, JSON lines otherwise."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
    _LEVEL["name"] = logging.getLevelName(numeric)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _scrub,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_STDERR),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    if stdlib:
        _route_stdlib(numeric, shared, renderer)


def _route_stdlib(
    level: int, shared: list[structlog.types.Processor], renderer: structlog.types.Processor
) -> None:
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic", "sqlalchemy"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
