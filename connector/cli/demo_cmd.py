"""``prm-connector demo``: the whole loop, told as a story, against an embedded emulated org."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, console, emit
from connector.cli.config_cmds import write_defaults

if TYPE_CHECKING:
    from connector.demo.tour import SceneResult

__all__: list[str] = []


def _cell(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return "" if value is None else str(value)


def _actions(actions: Any) -> str:
    """Each action with what it did: ``award_points: +50 -> 100``, ``allocate_mdf: skipped
    (already allocated for FY2026-Q4)``; a planned action (dry run) by its name alone."""
    parts = []
    for a in actions or []:
        if not isinstance(a, dict):
            continue
        name = str(a.get("action") or a.get("name") or next(iter(a), ""))
        status, detail = a.get("status"), a.get("detail")
        if status == "done" and detail:
            parts.append(f"{name}: {detail}")
        elif status and status != "done":
            parts.append(f"{name}: {status}" + (f" ({detail})" if detail else ""))
        elif name:
            parts.append(name)
    return "; ".join(parts)


def _render_scene(number: int, scene: SceneResult) -> None:
    from rich.table import Table

    console.rule(f"[bold]{number}. {scene.title}")
    console.print(f"[bold]In Salesforce:[/bold] {scene.action}")
    console.print(f"[bold]Expected:[/bold] {scene.expect}")
    fired = Table(title="What fired, and why", title_justify="left", expand=False)
    for col in ("rule", "record", "outcome", "actions", "reason"):
        fired.add_column(col, overflow="fold")
    for d in scene.decisions:
        fired.add_row(
            d["trigger_id"],
            f"{d['entity']} {d['sf_id'] or ''}".strip(),
            d["outcome"] + (f" ({d['branch']})" if d.get("branch") else ""),
            _actions(d.get("actions")),
            d.get("reason") or "",
        )
    if scene.decisions:
        console.print(fired)
    else:
        console.print("[bold]What fired:[/bold] nothing")
    sent = {k: v for k, v in scene.writes.items() if v}
    console.print(
        "[bold]Written back:[/bold] "
        + (", ".join(f"{k} {v}" for k, v in sent.items()) if sent else "nothing")
    )
    if scene.prm:
        segments = ", ".join(scene.prm.get("segments") or []) or "none"
        console.print(
            f"[bold]In the PRM:[/bold] segments: {segments}; points ledger total "
            f"{_cell(scene.prm.get('points_ledger_total'))}"
        )
    for label, rows in scene.salesforce.items():
        if not rows:
            continue
        table = Table(title=f"Salesforce now: {label}", title_justify="left")
        for col in rows[0]:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        console.print(table)


@app.command("demo")
def demo_cmd(
    config: ConfigOption = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write the demo's config and SQLite store.")
    ] = Path("prm-demo"),
    as_json: JsonOption = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="After the story, keep the org and the daemon running (Outbound Messages "
            "pushed to its receiver) so you can edit the org and watch; Ctrl-C stops.",
        ),
    ] = False,
) -> None:
    """Start an emulated org, sync it, then play live changes and show what the triggers did.

    A registration approved, a conflicting one routed with the other named, a certification
    that lifts a tier, a big deal that releases MDF once, and a quiet cycle that writes
    nothing. Leaves DIR/connector.yaml and DIR/prm.db behind for `status`, `triggers log`,
    `outbox list` or `export`.
    """
    from connector.demo import run_demo

    if live:
        run_demo(directory, write_defaults=write_defaults, live=_live(directory, as_json))
        return
    result = run_demo(directory, write_defaults=write_defaults)
    if as_json:
        emit(result.as_dict(), as_json=True)
        return
    _render(result, directory)


def _live(directory: Path, as_json: bool) -> Any:
    from connector.demo.tour import live_daemon

    def hook(rt: Any, emu: Any, result: Any) -> None:
        if as_json:
            emit(result.as_dict(), as_json=True)
        else:
            _render(result, directory)

        def announce(url: str) -> None:
            users = emu.users
            info = {
                "receiver": url,
                "instance_url": emu.instance_url,
                "login_url": emu.login_url,
                "ca_bundle": str(Path(emu.ca_bundle).resolve()),
                "client_id": emu.client_id,
                "client_secret": emu.client_secret,
                "partner": {k: users["partner"][k] for k in ("username", "password")},
                "admin": {k: users["admin"][k] for k in ("username", "password")},
            }
            if as_json:  # one line, flushed: a script reads it while the daemon runs
                import json
                import sys

                sys.stdout.write(json.dumps({"live": info}) + "\n")
                sys.stdout.flush()
                return
            console.rule("[bold]Live")
            console.print(
                f"The daemon is running (receiver {url}); the org at {emu.instance_url} pushes "
                "Outbound Messages to it. Edit the org as the partner or admin user "
                f"({users['partner']['username']} / {users['partner']['password']}, CA bundle "
                f"{emu.ca_bundle}) and watch `prm-connector -c {directory / 'connector.yaml'} "
                "triggers log`. Ctrl-C stops.",
                highlight=False,
            )

        code = live_daemon(rt, emu, announce)
        if code:
            raise typer.Exit(code)

    return hook


def _render(result: Any, directory: Path) -> None:
    console.rule("[bold]prm-connector demo")
    console.print(f"Emulated org at {result.instance_url}; store: {directory / 'prm.db'}")
    rows = ", ".join(f"{name} {n}" for name, n in result.backfill.items())
    console.print(f"[bold]0. First sync:[/bold] every mapped object backfilled ({rows}).")
    console.print("Backfilled history is not a business event: no trigger fires on it.")
    for number, scene in enumerate(result.scenes, start=1):
        _render_scene(number, scene)
    path = directory / "connector.yaml"
    console.print(
        f"\n{result.api_calls} API calls in all. Next: `prm-connector -c {path} triggers log`, "
        f"`outbox list`, `status` or `export partner`."
    )
    console.print(
        f"Look at it in a browser: `prm-connector -c {path} ops`, then open "
        "http://127.0.0.1:8765/ops/ (the operations page: decisions, outbox, partners, rules).",
        highlight=False,
    )
