"""Errors grouped by what the caller does next.

``FatalError`` stops the run, ``RetriableError`` is tried again later, ``SkippableError``
sends one record to the dead letter queue and lets the rest go on. Every error carries a
message a CRM admin can act on (``str(err)``) and, separately, internal detail for the log.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "FatalError",
    "RetriableError",
    "SkippableError",
]


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class FatalError(ConnectorError):
    """Stop: nothing gets better by trying again (bad credentials, bad config, missing object)."""


class RetriableError(ConnectorError):
    """Try again later: the cause is transient (outage, lock, limit window)."""

    def __init__(
        self, message: str, *, detail: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = retry_after


class SkippableError(ConnectorError):
    """Give up on this one record (dead letter) and carry on with the others."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file, located to file, line and column (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(FatalError):
    """Bad configuration or rules: reported with file:line:col, exit code 2."""

    exit_code = 2

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))
