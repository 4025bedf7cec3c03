"""Inbound run commands: sync --once, backfill, reconcile (thin: parse, call the service, render).

Heavy modules (the service layer, SQLAlchemy, rich tables) are imported inside the commands so
``prm-connector --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, console, emit, progress_reporter
from connector.errors import ConnectorError

if TYPE_CHECKING:
    from connector.service import RunReport

__all__: list[str] = []

WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="If another run holds the store, wait for it instead of exiting 1."
    ),
]
ObjectOption = Annotated[
    str | None, typer.Option("--object", help="Only this entity (a name from mapping.yaml).")
]


def _render_objects(report: RunReport, title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    cols = ("entity", "mode", "seen", "changes", "skipped", "dead letters", "deleted")
    for col in cols:
        table.add_column(col, justify="left" if col in ("entity", "mode") else "right")
    for o in report.objects:
        table.add_row(
            str(o["entity"]),
            str(o.get("mode", "")),
            *(str(o.get(k, 0)) for k in ("seen", "changes", "skipped", "dead_letters", "deleted")),
        )
    console.print(table)


def _finish(report: RunReport, as_json: bool, render: Any) -> None:
    """Print the report, then turn a failed run into exit 1 with its one-line reason."""
    if as_json:
        emit(report.summary(), as_json=True)
    else:
        render(report)
        for stage, counts in report.stages.items():
            shown = ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing to do"
            console.print(f"{stage}: {shown}")
        console.print(
            f"{report.changes} changes logged, {report.dead_letters} dead letters, "
            f"{report.api_calls} API calls (run {report.run_id[:8]})"
        )
    if report.status != "ok" and report.failures:
        # One line per object that stopped; the others were read.
        raise ConnectorError("\nerror: ".join(
            f"{name}: {why}" for name, why in report.failures.items()))
    if report.status != "ok":
        raise ConnectorError(report.error or "the run failed; see `prm-connector status`")


@app.command("sync")
def sync_cmd(
    config: ConfigOption = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one full cycle and exit (required: the continuous loop is `run`).",
        ),
    ] = False,
    wait: WaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """One cycle with --once: backfill new objects, poll changes, then the post-sync stages.

    Takes the store's run lock: if another run holds it, exits 1 at once (or waits with
    --wait). For continuous sync run the daemon, `prm-connector run`.
    """
    if not once:
        raise typer.BadParameter(
            "pass --once for one cycle; the continuous loop is `prm-connector run`",
            param_hint="--once",
        )
    from connector.service import open_runtime, run_lock, sync_once

    rt = open_runtime(config)
    try:
        with run_lock(rt, "sync", wait=wait), progress_reporter(False if as_json else None) as bar:
            report = sync_once(rt, progress=bar)
    finally:
        rt.close()
    _finish(report, as_json, lambda r: _render_objects(r, "Sync cycle"))


@app.command("backfill")
def backfill_cmd(
    config: ConfigOption = None,
    object_: ObjectOption = None,
    mode: Annotated[
        str, typer.Option("--mode", help="auto (Bulk API 2.0 above the threshold), bulk or rest.")
    ] = "auto",
    wait: WaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Load every row of the mapped objects again (resumes one a crash interrupted)."""
    if mode not in ("auto", "bulk", "rest"):
        raise typer.BadParameter("must be auto, bulk or rest", param_hint="--mode")
    from connector.service import backfill, open_runtime, pick_entities, run_lock

    rt = open_runtime(config)
    try:
        pick_entities(rt.spec, object_)  # a bad --object is exit 2 before the lock
        with (
            run_lock(rt, "backfill", wait=wait),
            progress_reporter(False if as_json else None) as bar,
        ):
            report = backfill(rt, entity=object_, mode=mode, progress=bar)  # type: ignore[arg-type]
    finally:
        rt.close()

    def render(r: RunReport) -> None:
        for o in r.objects:
            console.print(
                f"{o['entity']}: {o['seen']} rows read ({o['mode']}), {o['changes']} changes"
            )

    _finish(report, as_json, render)


@app.command("reconcile")
def reconcile_cmd(
    config: ConfigOption = None,
    object_: ObjectOption = None,
    wait: WaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Repair drift and missed deletes; write back owned fields Salesforce lost or changed."""
    from connector.service import open_runtime, pick_entities, reconcile, run_lock

    rt = open_runtime(config)
    try:
        pick_entities(rt.spec, object_)
        with (
            run_lock(rt, "reconcile", wait=wait),
            progress_reporter(False if as_json else None) as bar,
        ):
            report = reconcile(rt, entity=object_, progress=bar)
    finally:
        rt.close()

    def render(r: RunReport) -> None:
        for o in r.objects:
            console.print(
                f"{o['entity']}: checked {o['checked']}, drifted {o['drifted']}, "
                f"missing locally {o['missing_locally']}, deleted {o['deleted']}"
            )
        repaired = {k: v for k, v in r.repairs.items() if v["repaired"]}
        for name, rep in repaired.items():
            fields = ", ".join(f"{f} ({n})" for f, n in sorted(rep["fields"].items()))
            console.print(f"{name}: wrote back {rep['repaired']} record(s) whose Salesforce "
                          f"copy differed: {fields}")
        if not repaired:
            console.print("write-back: every field the connector owns agrees with the store")

    _finish(report, as_json, render)
