"""``prm-connector demo``: the whole inbound loop against a local emulator and SQLite."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, build_context, console, emit
from connector.cli.config_cmds import write_defaults

if TYPE_CHECKING:
    from connector.emulator.testing import EmulatorHandle
    from connector.sync.diffs import RecordDiff

__all__: list[str] = []

_ENV_REF = re.compile(r"\$\{(PRM_[A-Z_]+)(?::-[^}]*)?\}")


def _pin_connection(directory: Path, emu: EmulatorHandle) -> Path:
    """Write the emulator's connection into the demo's connector.yaml (no env vars needed)."""
    path = directory / "connector.yaml"
    user = emu.users["integration"]
    values = {
        "PRM_SF_LOGIN_URL": emu.login_url,
        "PRM_SF_USERNAME": user["username"],
        "PRM_SF_PASSWORD": user["password"],
        "PRM_SF_CLIENT_ID": emu.client_id,
        "PRM_SF_CLIENT_SECRET": emu.client_secret,
        "PRM_SF_CA_BUNDLE": str(Path(emu.ca_bundle).resolve()),
        "PRM_DATABASE_URL": f"sqlite:///{(directory / 'prm.db').resolve()}",
    }
    text = _ENV_REF.sub(
        lambda m: values.get(m.group(1), m.group(0)), path.read_text(encoding="utf-8")
    )
    path.write_text(text, encoding="utf-8")
    return path


def _sales_ops_edits(emu: EmulatorHandle) -> list[str]:
    """Changes a sales-ops user makes in the org between two cycles (as the admin user)."""
    org = emu.org
    assert org is not None, "the demo runs its emulator in-process"
    admin = emu.users["admin"]["id"]
    done: list[str] = []
    regs = org.query(
        "SELECT Id, Name FROM Deal_Registration__c WHERE Status__c = 'Submitted' ORDER BY Name",
        include_deleted=False,
    ).records
    if regs:
        org.update("Deal_Registration__c", regs[0]["Id"], {"Amount__c": 42000.0}, admin)
        done.append(f"raised the amount of registration {regs[0]['Name']} to 42,000")
    opps = org.query(
        "SELECT Id, Name FROM Opportunity WHERE IsClosed = false ORDER BY Name LIMIT 2",
        include_deleted=False,
    ).records
    if opps:
        org.update("Opportunity", opps[0]["Id"], {"StageName": "Closed Won"}, admin)
        done.append(f"closed opportunity {opps[0]['Name']} as won")
    if len(opps) > 1:
        org.delete("Opportunity", opps[1]["Id"], admin)
        done.append(f"deleted opportunity {opps[1]['Name']}")
    partners = org.query(
        "SELECT Id, Name FROM Account WHERE IsPartner = true AND Partner_Status__c = 'Onboarding'"
        " ORDER BY Name LIMIT 1",
        include_deleted=False,
    ).records
    if partners:
        org.update("Account", partners[0]["Id"], {"Partner_Status__c": "Active"}, admin)
        done.append(f"activated partner {partners[0]['Name']}")
    return done


def _describe_diff(d: RecordDiff, users: dict[str, str]) -> str:
    who = users.get(d.origin or "", d.origin or "Salesforce")
    name = (d.new or d.old or {}).get("name") or (d.new or d.old or {}).get("title") or d.sf_id
    if d.op != "updated":
        return f"{d.entity} '{name}' {d.op} by {who}"
    parts = [f"{f}: {(d.old or {}).get(f)!r} -> {(d.new or {}).get(f)!r}" for f in d.changed]
    return f"{d.entity} '{name}' updated by {who}: " + "; ".join(parts)


@app.command("demo")
def demo_cmd(
    config: ConfigOption = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write the demo's config and SQLite store.")
    ] = Path("prm-demo"),
    as_json: JsonOption = False,
) -> None:
    """Start an emulated org (seed: demo), sync it into SQLite, edit it, sync again.

    Leaves DIR/connector.yaml and DIR/prm.db behind: try `prm-connector -c DIR/connector.yaml
    status` or `export partner` afterwards.
    """
    if directory.exists():
        for stale in ("prm.db", "prm.db-wal", "prm.db-shm", "emulator"):
            target = directory / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    from rich.table import Table

    from connector.emulator.testing import running_emulator  # the demo's embedded org
    from connector.settings import load_settings
    from connector.store import make_engine, migrate, read_connection, repo
    from connector.sync.cycle import run_cycle

    write_defaults(directory, force=True)
    with running_emulator(seed="demo", state_dir=directory / "emulator") as emu:
        path = _pin_connection(directory, emu)
        settings = load_settings(path, env={})
        engine = make_engine(settings.database.url)
        migrate(engine)
        ctx = build_context(settings, engine)
        first = run_cycle(ctx, keep_diffs=False)
        edits = _sales_ops_edits(emu)
        # The poller reads up to a signpost (now minus a small skew): changes younger than
        # that belong to the next cycle, so the demo waits the skew out as the daemon would.
        time.sleep(settings.sync.signpost_skew_seconds + 0.2)
        second = run_cycle(ctx, keep_diffs=True)
        users = {u["id"]: name for name, u in emu.users.items()}
        with read_connection(engine) as conn:
            rows = {name: repo.count_entity(conn, name) for name in ctx.spec.entities}
        calls = ctx.client.calls
        engine.dispose()
    diffs = [d for r in second for d in r.diffs]
    result: dict[str, Any] = {
        "directory": str(directory),
        "backfill": [r.summary() for r in first],
        "edits": edits,
        "changes": [
            {
                "entity": d.entity,
                "sf_id": d.sf_id,
                "op": d.op,
                "changed": list(d.changed),
                "old": d.old,
                "new": d.new,
                "by": users.get(d.origin or "", d.origin),
            }
            for d in diffs
        ],
        "rows": rows,
        "api_calls": calls,
    }
    if as_json:
        emit(result, as_json=True)
        return
    console.rule("[bold]prm-connector demo")
    console.print(f"Emulated org at {emu.instance_url}; store: {directory / 'prm.db'}")
    table = Table(title="1. First sync: every mapped object backfilled")
    for col in ("entity", "mode", "rows read", "local rows"):
        table.add_column(col)
    for r in first:
        table.add_row(r.entity, r.mode, str(r.seen), str(rows[r.entity]))
    console.print(table)
    console.print("[bold]2. A sales-ops user edits the org:[/bold]")
    for e in edits:
        console.print(f"  - {e}")
    console.print("[bold]3. Second sync: only what changed, with old and new values[/bold]")
    for d in diffs:
        console.print(f"  - {_describe_diff(d, users)}")
    if not diffs:
        console.print("  (no changes)")
    console.print(
        f"\n{calls} API calls in all. Next: `prm-connector -c {path} status` "
        f"or `prm-connector -c {path} export partner`."
    )
