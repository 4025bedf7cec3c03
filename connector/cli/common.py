"""Shared CLI plumbing: the --config option, building services, output and progress."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    # Imported inside the functions at run time: `prm-connector --help` must not pay for them.
    from rich.console import Console
    from sqlalchemy import Engine

    from connector.mapping import MappingSpec
    from connector.service import Runtime
    from connector.settings import Settings
    from connector.sync.context import Progress as ProgressFn

__all__ = [
    "ConfigOption",
    "JsonOption",
    "console",
    "emit",
    "err_console",
    "load_config",
    "open_engine",
    "progress_reporter",
    "settings_from",
    "store_runtime",
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Path to connector.yaml (default: $PRM_CONFIG, else ./connector.yaml).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


class _LazyConsole:
    """A rich Console made on first use, so importing a CLI module does not import rich."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


# Typed as Console for callers; the proxy forwards every attribute to the real one.
console: Console = _LazyConsole()  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]


def settings_from(config: Path | None, *, store_only: bool = False) -> Settings:
    """Load and validate connector.yaml (raises ConfigError, exit code 2); ``store_only``
    for commands that read the store alone (no Salesforce variables needed)."""
    from connector.settings import load_settings

    return load_settings(config, store_only=store_only)


def load_config(
    config: Path | None, *, store_only: bool = False
) -> tuple[Settings, MappingSpec]:
    """Validate connector.yaml and mapping.yaml before touching store or org (the rule files,
    programs.yaml and triggers.yaml, load with the rule environment: ``service.build_rules``).

    ``store_only``: the command reads or edits the store alone, so the salesforce: section
    (and its PRM_SF_* variables) is not required."""
    from connector.mapping import load_mapping
    from connector.settings import load_settings

    settings = load_settings(config, store_only=store_only)
    spec = load_mapping(settings.mapping_path)
    return settings, spec


def store_runtime(config: Path | None) -> Runtime:
    """A runtime over the store alone (no Salesforce client, no PRM_SF_* variables): for the
    commands that list or edit what the store holds (outbox list/retry/drop, ops)."""
    from connector.service import Runtime

    settings, spec = load_config(config, store_only=True)
    return Runtime(settings=settings, spec=spec, engine=open_engine(settings))


def open_engine(settings: Settings) -> Engine:
    """The store's engine, migrated to the newest schema."""
    from connector.store import make_engine, migrate

    engine = make_engine(settings.database.url)
    migrate(engine)
    return engine


def emit(data: Any, *, as_json: bool) -> None:
    """Print ``data`` as one JSON document (``--json``) or let the caller render it."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, indent=2) + "\n")


@contextmanager
def progress_reporter(enabled: bool | None = None) -> Iterator[ProgressFn | None]:
    """A rich progress bar on a terminal; None (quiet) when stderr is not a TTY or in --json."""
    if enabled is None:
        enabled = err_console.is_terminal and not os.environ.get("CI")
    if not enabled:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def report(entity: str, done: int, total: int | None) -> None:
        if entity not in tasks:
            tasks[entity] = bar.add_task(entity, total=total)
        bar.update(tasks[entity], completed=done, total=total)

    with bar:
        yield report
