"""Logging setup for the CLI and daemon: structlog, secrets scrubbed from every event.

With ``stdlib=True`` (the daemon) the standard library's loggers (uvicorn, alembic, sqlalchemy,
apscheduler) go through the same processors and renderer, so every line is one JSON object
with its secrets scrubbed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any

from connector.redact import scrub_event

if TYPE_CHECKING:
    import structlog

__all__ = ["configure_logging", "current_level", "get_logger"]

_LEVEL = {"name": "WARNING"}
# structlog (with its console renderer, rich tracebacks and stdlib bridge) costs ~50 ms to
# import, and a quiet command logs nothing: until a logger emits an event at or above the
# configured level, ``configure_logging`` only records what to set up here.
_DEFERRED: dict[str, Any] = {"numeric": None, "json_logs": None}
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
    """Scrub secrets from an event (``connector.redact``: stdlib only, no Salesforce code)."""
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
    if not stdlib and "structlog" not in sys.modules:
        _DEFERRED.update(numeric=numeric, json_logs=json_logs)
        return
    _DEFERRED.update(numeric=None, json_logs=None)
    _configure(numeric, json_logs, stdlib)


def _configure(numeric: int, json_logs: bool, stdlib: bool) -> None:
    import structlog

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
    import structlog

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


def _structlog_ready() -> None:
    """Apply a deferred ``configure_logging`` (imports structlog)."""
    numeric = _DEFERRED["numeric"]
    if numeric is not None:
        _DEFERRED["numeric"] = None
        _configure(numeric, bool(_DEFERRED["json_logs"]), False)


def _enabled(level: int) -> bool:
    """False only for an event below a deferred configuration's level (structlog would drop
    it too); anything else goes to structlog, which decides as it always has."""
    numeric = _DEFERRED["numeric"]
    return numeric is None or level >= numeric


class _Logger:
    """``structlog.get_logger(name)``, imported and configured on the first event emitted."""

    __slots__ = ("_name", "_real")

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._real: Any = None

    def _logger(self) -> Any:
        _structlog_ready()
        if self._real is None:
            import structlog

            self._real = structlog.get_logger(self._name)
        return self._real

    def debug(self, event: str, **kw: Any) -> None:
        if _enabled(logging.DEBUG):
            self._logger().debug(event, **kw)

    def info(self, event: str, **kw: Any) -> None:
        if _enabled(logging.INFO):
            self._logger().info(event, **kw)

    def warning(self, event: str, **kw: Any) -> None:
        if _enabled(logging.WARNING):
            self._logger().warning(event, **kw)

    def error(self, event: str, **kw: Any) -> None:
        if _enabled(logging.ERROR):
            self._logger().error(event, **kw)

    def exception(self, event: str, **kw: Any) -> None:
        if _enabled(logging.ERROR):
            self._logger().exception(event, **kw)

    def __getattr__(self, name: str) -> Any:
        # bind(), critical() and the rest: structlog's own logger
        return getattr(self._logger(), name)


def get_logger(name: str | None = None) -> Any:
    """A logger for ``name``, like ``structlog.get_logger``; structlog is imported when the
    first event at an enabled level is emitted (a quiet run never imports it)."""
    return _Logger(name)
