"""``outbox list|retry|drop|conflicts|dispatch``: the write-back queue for operators.

Heavy modules (the service layer, SQLAlchemy, rich tables) are imported inside the commands so
``prm-connector --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, console, emit
from connector.errors import ConnectorError

__all__: list[str] = []

outbox_app = typer.Typer(
    name="outbox",
    help="Write-backs to Salesforce: list, retry dead ones, drop with a reason, conflicts.",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")


def _runtime(config: Any) -> Any:
    from connector.service import open_runtime

    return open_runtime(config)


def _store(config: Any) -> Any:
    """The store alone: listing and editing the queue needs no Salesforce variables."""
    from connector.cli.common import store_runtime

    return store_runtime(config)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


@outbox_app.command("list")
def list_cmd(
    config: ConfigOption = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only items in this state: pending, dead, done, dropped."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many items.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Outbox items, newest first, with their error for dead ones."""
    from connector.outbox.admin import STATUSES, list_items, outbox_summary
    from connector.store import read_connection

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"--status must be one of {', '.join(STATUSES)} (got {status!r})")
    rt = _store(config)
    try:
        with read_connection(rt.engine) as conn:
            items = list_items(conn, status=status, limit=limit)
            summary = outbox_summary(conn)
    finally:
        rt.close()
    if as_json:
        emit({"summary": summary, "items": items}, as_json=True)
        return
    _table(
        "outbox",
        ["id", "status", "object", "op", "record", "attempts", "error"],
        [
            [i["id"][:12], i["status"], i["sobject"], i["operation"], i["record"],
             i["attempts"], i["error"] or i["reason"]]
            for i in items
        ],
    )
    console.print(
        f"{summary['pending']} pending, {summary['dead']} dead, {summary['done']} done, "
        f"{summary['dropped']} dropped"
    )


@outbox_app.command("retry")
def retry_cmd(
    config: ConfigOption = None,
    item_id: Annotated[
        str | None, typer.Option("--id", help="Retry this dead item (its id from `list`).")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all", help="Retry every dead item.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue dead items again once their cause is fixed (they go out on the next dispatch)."""
    from connector.outbox.admin import retry_items

    if (item_id is None) == (not all_dead):
        raise typer.BadParameter("give exactly one of --id ID or --all")
    rt = _store(config)
    try:
        with rt.engine.begin() as conn:
            ids = retry_items(conn, ids=None if all_dead else [_full_id(conn, item_id)])
    finally:
        rt.close()
    if as_json:
        emit({"retried": ids}, as_json=True)
    else:
        console.print(f"{len(ids)} item(s) queued again")
    if item_id is not None and not ids:
        raise ConnectorError(f"outbox item {item_id} is not dead; nothing to retry")


def _full_id(conn: Any, prefix: str | None) -> str:
    """An item id from the (possibly shortened) id `list` shows."""
    from sqlalchemy import select

    from connector.outbox.queue import ITEMS

    if not prefix:
        raise typer.BadParameter("an outbox item id is required")
    found = list(
        conn.execute(select(ITEMS.c.id).where(ITEMS.c.id.like(f"{prefix}%")).limit(2)).scalars()
    )
    if len(found) != 1:
        raise typer.BadParameter(
            f"no outbox item {prefix!r}" if not found else f"{prefix!r} matches several items"
        )
    return str(found[0])


@outbox_app.command("drop")
def drop_cmd(
    item_id: Annotated[str, typer.Argument(help="The item to discard (its id from `list`).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is dropped (kept with the item).")
    ],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Discard a pending or dead write for good, recording the reason."""
    from connector.outbox.admin import drop_item

    if not reason.strip():
        raise typer.BadParameter("--reason must say why the write is dropped")
    rt = _store(config)
    try:
        with rt.engine.begin() as conn:
            full = _full_id(conn, item_id)
            problem = drop_item(conn, full, reason.strip())
    finally:
        rt.close()
    if problem:
        raise ConnectorError(problem)
    if as_json:
        emit({"dropped": full, "reason": reason.strip()}, as_json=True)
    else:
        console.print(f"dropped {full}: {reason.strip()}")


@outbox_app.command("conflicts")
def conflicts_cmd(
    config: ConfigOption = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Fields changed on both sides before a write-back, and which side won (by policy)."""
    from connector.outbox.admin import list_conflicts
    from connector.store import read_connection

    rt = _store(config)
    try:
        with read_connection(rt.engine) as conn:
            rows = list_conflicts(conn, limit=limit)
    finally:
        rt.close()
    if as_json:
        emit(rows, as_json=True)
        return
    _table(
        "conflicts",
        ["when", "object", "record", "field", "PRM value", "Salesforce value", "policy", "kept"],
        [
            [r["detected_at"], r["sobject"], r["record"], r["field"], r["prm_value"],
             r["crm_value"], r["policy"], "Salesforce" if r["winner"] == "crm" else "PRM"]
            for r in rows
        ],
    )


@outbox_app.command("dispatch")
def dispatch_cmd(
    config: ConfigOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Write at most this many records.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for a run holding the store instead of exit 1.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Queue local PRM edits and send every due write now (as `sync --once` does last)."""
    from connector.outbox.dispatcher import dispatch
    from connector.outbox.local import queue_local_changes
    from connector.service import run_lock

    rt = _runtime(config)
    try:
        with run_lock(rt, "outbox", wait=wait):
            local = queue_local_changes(rt.engine, rt.spec)
            report = dispatch(rt, limit=limit)
    finally:
        rt.close()
    counts = {**report.counts(), "local_queued": local.queued}
    if as_json:
        emit({**counts, "paused": report.paused}, as_json=True)
    else:
        console.print(", ".join(f"{k} {v}" for k, v in counts.items()))
        if report.paused:
            console.print(f"paused: {report.paused}")
