"""Store commands: status, export, db upgrade (sync, backfill, reconcile: inbound_cmds)."""

from __future__ import annotations

import csv
import json
import sys
from typing import Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    emit,
    load_config,
    open_engine,
    settings_from,
)
from connector.errors import ConfigError, ConfigProblem
from connector.exporting import csv_row, plain
from connector.redact import redact_url

__all__: list[str] = []

# Newest unresolved dead letters `status` lists (all of them are counted per entity).
DEAD_SHOWN = 10

db_app = typer.Typer(help="Manage the local store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command("status")
def status_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show per-object cursors, row counts, last runs, errors and API usage (no org call)."""
    from rich.table import Table

    from connector.cli.triggers_cmds import print_status_section, status_section
    from connector.store import read_connection, repo

    settings, spec = load_config(config)
    segment_specs = None
    if settings.programs_path is not None:  # checked before the store, loaded once
        from connector.programs import load_programs

        segment_specs = load_programs(settings.programs_path).segments
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
        last_run = repo.latest_sync_run(conn)
        from connector.outbox.admin import outbox_summary

        outbox = outbox_summary(conn)
        dead = [
            {
                "entity": d.entity,
                "sf_id": d.sf_id,
                "code": d.code,
                "message": d.message,
                "at": d.created_at.isoformat(),
            }
            for d in repo.list_dead_letters(conn, newest_first=True, limit=DEAD_SHOWN)
        ]
        triggers = status_section(conn)
        from connector.store.stream import consumer_lag

        change_log = consumer_lag(conn)
        programs = None
        if segment_specs is not None:
            from connector.programs.views import programs_summary

            programs = programs_summary(conn, segment_specs)
    data = {
        "database": redact_url(settings.database.url),
        "objects": objects,
        "api": usage,
        "last_run": last_run,
        "dead_letters": dead,
        "triggers": triggers,
        "outbox": outbox,
        "change_log": change_log,
        "programs": programs,
    }
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
    if last_run:
        console.print(
            f"Last run: {last_run['kind']} {last_run['status']} at {last_run['started_at']}"
            + (f": {last_run['error']}" if last_run.get("error") else "")
        )
    console.print(
        f"Outbox: {outbox['pending']} pending, {outbox['dead']} dead "
        f"(`prm-connector outbox list --status dead`), {outbox['conflicts']} conflicts"
    )
    consumers = ", ".join(
        f"{c['consumer']} {c['behind']} behind" for c in change_log["consumers"]) or "none yet"
    console.print(f"Change log: newest entry {change_log['latest_seq']}; consumers: {consumers}")
    if programs is not None:
        segments = ", ".join(f"{k} {v}" for k, v in programs["segments"].items()) or "none"
        console.print(
            f"Programs: segments (members now) {segments}; {programs['enrolments']} "
            f"enrolments, {programs['steps_completed']} steps completed, "
            f"{programs['points']} points in the ledger"
        )
    for o in objects:
        if o["last_error"]:
            console.print(f"[red]{o['entity']}: {o['last_error']}[/red]")
    for d in dead:
        console.print(
            f"dead letter: {d['entity']} {d['sf_id']} {d['code']}: {d['message']}",
            markup=False,
            highlight=False,
        )
    print_status_section(triggers)


@app.command("export")
def export_cmd(
    entity: Annotated[str, typer.Argument(help="Entity to export (a name from mapping.yaml).")],
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    include_deleted: Annotated[
        bool, typer.Option("--include-deleted", help="Also export rows deleted in Salesforce.")
    ] = False,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw",
            help="CSV: write text cells as stored, even those a spreadsheet would run as a "
            "formula (by default a cell starting with = + - @ gets a leading ').",
        ),
    ] = False,
) -> None:
    """Write the local records of ENTITY, with their sf_id, to stdout."""
    from connector.store import read_connection, repo

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
        mapped = spec.entities[entity]
        rows = repo.iter_entity(conn, entity, fields=list(mapped.fields), lookups=mapped.lookups())
        for row in rows:
            if not include_deleted and row.get("is_deleted"):
                continue
            if fmt == "jsonl":
                out.write(json.dumps({k: plain(v) for k, v in row.items()}, default=str) + "\n")
                continue
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row), extrasaction="ignore")
                writer.writeheader()
            writer.writerow(csv_row(row, raw=raw))


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply the store's Alembic migrations up to the newest revision."""
    from connector.store import make_engine, migrate

    settings = settings_from(config)
    engine = make_engine(settings.database.url)
    migrate(engine)
    console.print(f"store at {redact_url(settings.database.url)} is up to date")
