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

db_app = typer.Typer(help="Manage the local store's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.command("status")
def status_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Show per-object cursors, row counts, last runs, errors and API usage (no org call)."""
    from rich.table import Table

    from connector.cli.triggers_cmds import print_status_section
    from connector.service.status import read_status

    settings, spec = load_config(config, store_only=True)
    segment_names = None
    if settings.programs_path is not None:  # checked before the store, loaded once
        from connector.programs import load_programs

        segment_names = list(load_programs(settings.programs_path).segments)
    data = read_status(open_engine(settings), spec, database_url=settings.database.url,
                       segments=segment_names)
    objects, usage, last_run = data["objects"], data["api"], data["last_run"]
    outbox, change_log, programs = data["outbox"], data["change_log"], data["programs"]
    cdc = data["cdc"]
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
    console.print(f"Writer: {data['writer'] or 'no process holds the store now'}",
                  markup=False, highlight=False)
    if data["push_pending"]:
        console.print(f"Push: {data['push_pending']} notifications stored, not processed yet")
    consumers = ", ".join(
        f"{c['consumer']} {c['behind']} behind" for c in change_log["consumers"]) or "none yet"
    console.print(f"Change log: newest entry {change_log['latest_seq']}; consumers: {consumers}")
    for c in cdc:  # Change Data Capture subscriptions (sync.push: cdc)
        console.print(
            f"CDC {c['topic']}: {c['state']}, {c['events']} events, {c['gaps']} gap events "
            f"re-read, {c['repolls']} re-polls, last change {c['last_change_at'] or '-'}"
            + (f" (last gap: {c['detail']})" if c["detail"] else "")
        )
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
    for d in data["dead_letters"]:
        console.print(
            f"dead letter: {d['entity']} {d['sf_id']} {d['code']}: {d['message']}",
            markup=False,
            highlight=False,
        )
    print_status_section(data["triggers"])


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
            "formula (by default a cell starting with = + - @ gets a leading ', and control "
            "and bidi characters are replaced with U+FFFD).",
        ),
    ] = False,
) -> None:
    """Write the local records of ENTITY, with their sf_id, to stdout."""
    from connector.store import read_connection, repo

    if fmt not in ("jsonl", "csv"):
        raise typer.BadParameter("must be jsonl or csv", param_hint="--format")
    settings, spec = load_config(config, store_only=True)
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
    from connector.sync.storable import unescape_nul

    engine = open_engine(settings)
    escaped = engine.dialect.name == "postgresql"  # text held without NUL: sync/storable.py
    out = sys.stdout
    writer: Any = None
    with read_connection(engine) as conn:
        mapped = spec.entities[entity]
        rows = repo.iter_entity(conn, entity, fields=list(mapped.fields), lookups=mapped.lookups())
        for row in rows:
            if not include_deleted and row.get("is_deleted"):
                continue
            if escaped:
                row = {k: unescape_nul(v) if type(v) is str else v for k, v in row.items()}
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
