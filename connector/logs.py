"""Logging setup for the CLI and daemon: structlog, secrets scrubbed from every event."""

from __future__ import annotations

import logging
import sys

import structlog

from connector.salesforce import scrub_event

__all__ = ["configure_logging"]


def configure_logging(level: str = "WARNING", *, json_logs: bool | None = None) -> None:
    """Send structured logs to stderr: readable on a terminal, JSON lines otherwise."""
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            scrub_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.WARNING)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
