"""Sync commands: sync, backfill, reconcile, status, export, db upgrade."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from connector.cli import app
from connector.cli.common import (
    ConfigOption,
    JsonOption,
    build_context,
    console,
    emit,
    load_config,
    open_engine,
    progress_reporter,
    settings_from,
)
from connector.cli.triggers_cmds import print_status_section, status_section
from connector.errors import ConfigError, ConfigProblem
from connector.store import migrate, read_connection, repo
from connector.store.engine import make_engine
from connector.sync.backfill import backfill_entity
from connector.sync.context import SyncContext
from connector.sync.cycle import run_cycle
from connector.sync.reconcile import reconcile_entity

__all__: list[str] = []

db_app = typer.Typer(help="Manage the local store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _record_usage(ctx: SyncContext) -> None:
    usage = ctx.client.usage
    with ctx.engine.begin() as conn:
        repo.record_api_usage(
            conn,
            used=usage.used if usage else None,
            max=usage.max if usage else None,
            calls=ctx.client.calls,
        )


def _pick(ctx: SyncContext, entity: str | None) -> list[str]:
    if entity is None:
        return list(ctx.spec.entities)
    if entity not in ctx.spec.entities:
        known = ", ".join(ctx.spec.entities)
        raise ConfigError(
            [ConfigProblem("<command line>", 1, 1, f"unknown entity '{entity}' (known: {known})")]
        )
    return [entity]


@app.command("sync")
def sync_cmd(
    config: ConfigOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run one full cycle and exit (the default).")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Run one sync cycle: backfill new objects, poll changes, record diffs and deletes."""
    settings, spec = load_config(config)
    engine = open_engine(settings)
    with progress_reporter(None if not as_json else False) as progress:
        ctx = build_context(settings, engine, spec=spec, progress=progress)
        runs = run_cycle(ctx, keep_diffs=False)
    _record_usage(ctx)
    summary = {"objects": [r.summary() for r in runs], "api_calls": ctx.client.calls}
    if as_json:
        emit(summary, as_json=True)
        return
    table = Table(title="Sync cycle")
    for col in ("entity", "mode", "seen", "changes", "skipped", "dead letters", "deleted"):
        table.add_column(col, justify="right" if col not in ("entity", "mode") else "left")
    for r in runs:
        s = r.summary()
        table.add_row(
            r.entity,
            str(s["mode"]),
            str(s["seen"]),
            str(s["changes"]),
            str(s["skipped"]),
            str(s["dead_letters"]),
            str(s["deleted"]),
        )
    console.print(table)
    console.print(f"API calls this cycle: {ctx.client.calls}")


@app.command("backfill")
def backfill_cmd(
    config: ConfigOption = None,
    object_: Annotated[
        str | None,
        typer.Option("--object", help="Only this entity (a name from mapping.yaml)."),
    ] = None,
    mode: Annotated[
        str, typer.Option("--mode", help="auto (Bulk API 2.0 above the threshold), bulk or rest.")
    ] = "auto",
    as_json: JsonOption = False,
) -> None:
    """Load every row of the mapped objects again (resumes one a crash interrupted)."""
    if mode not in ("auto", "bulk", "rest"):
        raise typer.BadParameter("must be auto, bulk or rest", param_hint="--mode")
    settings, spec = load_config(config)
    engine = open_engine(settings)
    with progress_reporter(None if not as_json else False) as progress:
        ctx = build_context(settings, engine, spec=spec, progress=progress)
        runs = [
            backfill_entity(ctx, ctx.spec.entities[name], mode=mode)  # type: ignore[arg-type]
            for name in _pick(ctx, object_)
        ]
    _record_usage(ctx)
    summary = {"objects": [r.summary() for r in runs], "api_calls": ctx.client.calls}
    if as_json:
        emit(summary, as_json=True)
    else:
        for r in runs:
            s = r.summary()
            console.print(
                f"{r.entity}: {s['seen']} rows read ({s['mode']}), {s['changes']} changes"
            )


@app.command("reconcile")
def reconcile_cmd(
    config: ConfigOption = None,
    object_: Annotated[
        str | None, typer.Option("--object", help="Only this entity (a name from mapping.yaml).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare the org with the store by key and hash; repair drift and missed deletes."""
    settings, spec = load_config(config)
    engine = open_engine(settings)
    with progress_reporter(None if not as_json else False) as progress:
        ctx = build_context(settings, engine, spec=spec, progress=progress)
        results = [reconcile_entity(ctx, ctx.spec.entities[n]) for n in _pick(ctx, object_)]
    _record_usage(ctx)
    if as_json:
        emit({"objects": [r.summary() for r in results]}, as_json=True)
        return
    for r in results:
        console.print(
            f"{r.entity}: checked {r.checked}, drifted {r.drifted}, "
            f"missing locally {r.missing_locally}, deleted {r.deleted}"
        )


@app.command("status")
def status_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show per-object cursors, row counts, last runs, errors and API usage (no org call)."""
    settings, spec = load_config(config)
    engine = open_engine(settings)
    objects: list[dict[str, Any]] = []
    with read_connection(engine) as conn:
        for name, entity in spec.entities.items():
            state = repo.get_state(conn, name)
            objects.append(
                {
                    "entity": name,
                    "sobject": entity.sobject,
                    "rows": repo.count_entity(conn, name),
                    "cursor": state.cursor.isoformat() if state and state.cursor else None,
                    "last_run_at": state.last_run_at.isoformat()
                    if state and state.last_run_at
                    else None,
                    "last_status": state.last_status if state else None,
                    "last_error": state.last_error if state else None,
                    "backfill": (state.backfill or {}).get("status") if state else None,
                    "dead_letters": repo.count_dead_letters(conn, entity=name),
                }
            )
        usage = repo.latest_api_usage(conn)
        triggers = status_section(conn)
    data = {"database": _redact_url(settings.database.url), "objects": objects, "api": usage,
            "triggers": triggers}
    if as_json:
        emit(data, as_json=True)
        return
    table = Table(title="prm-connector status")
    for col in ("entity", "sobject", "rows", "cursor", "last run", "status", "dead letters"):
        table.add_column(col)
    for o in objects:
        table.add_row(
            o["entity"],
            o["sobject"],
            str(o["rows"]),
            o["cursor"] or "-",
            o["last_run_at"] or "never",
            o["last_status"] or "-",
            str(o["dead_letters"]),
        )
    console.print(table)
    if usage:
        console.print(
            f"API usage at last run: {usage.get('used')}/{usage.get('max')} "
            f"(this connector: {usage.get('calls')} calls in its last run)"
        )
    for o in objects:
        if o["last_error"]:
            console.print(f"[red]{o['entity']}: {o['last_error']}[/red]")
    print_status_section(triggers)


def _redact_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@app.command("export")
def export_cmd(
    entity: Annotated[str, typer.Argument(help="Entity to export (a name from mapping.yaml).")],
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="Also export rows deleted in Salesforce.")
    ] = False,
) -> None:
    """Write the local records of ENTITY, with their sf_id, to stdout."""
    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("must be jsonl or csv", param_hint="--format")
    settings, spec = load_config(config)
    if entity not in spec.entities:
        raise ConfigError(
            [
                ConfigProblem(
                    "<command line>",
                    1,
                    1,
                    f"unknown entity '{entity}' (known: {', '.join(spec.entities)})",
                )
            ]
        )
    engine = open_engine(settings)
    out = sys.stdout
    writer: Any = None
    with read_connection(engine) as conn:
        for row in repo.iter_entity(conn, entity):
            if not include_deleted and row.get("is_deleted"):
                continue
            plain = {k: _plain(v) for k, v in row.items()}
            if fmt == "jsonl":
                out.write(json.dumps(plain, default=str) + "\n")
                continue
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(plain), extrasaction="ignore")
                writer.writeheader()
            writer.writerow(
                {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in plain.items()}
            )


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the store's Alembic migrations up to the newest revision."""
    settings = settings_from(config)
    engine = make_engine(settings.database.url)
    migrate(engine)
    console.print(f"store at {_redact_url(settings.database.url)} is up to date")
