"""Trigger commands: list, test, replay, log, run-scheduled; and the `status` section."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, console, emit, load_config
from connector.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:

    from connector.mapping.spec import MappingSpec
    from connector.settings import Settings
    from connector.triggers.spec import RuleSet

__all__ = ["print_status_section"]

triggers_app = typer.Typer(help="Partner triggers: list, test, replay, audit log, schedules.",
                           no_args_is_help=True)
app.add_typer(triggers_app, name="triggers")

RuleOption = Annotated[str | None, typer.Option("--rule", help="Only this trigger (its id).")]


def _load(
    config: Path | None, *, store_only: bool = False
) -> tuple[Settings, MappingSpec, RuleSet]:
    """Settings, mapping and triggers.yaml loaded in the rule environment (programs' facts
    and actions included), as a runtime loads them."""
    from connector.service.rules import build_rules

    settings, spec = load_config(config, store_only=store_only)
    return settings, spec, build_rules(settings, spec).rules


def _read_record(path: Path, option: str) -> dict[str, Any]:
    """A record file: JSON or YAML, a mapping of local field names."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([ConfigProblem(str(path), 1, 1, f"cannot read {option} file: "
                                                          f"{err.strerror}")]) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ConfigError([ConfigProblem(str(path), 1, 1, f"not JSON/YAML: "
                                                          f"{str(err).splitlines()[0]}")]) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem(str(path), 1, 1, (
            "a record file is a mapping of local field names to values, e.g. "
            '{"status": "Submitted", "amount": 1000}'))])
    return data


def _describe(rule: Any) -> str:
    return f"schedule {rule.schedule}" if rule.schedule else "on " + ", ".join(rule.on)


@triggers_app.command("list")
def list_cmd(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List the triggers of triggers.yaml in evaluation order."""
    from rich.table import Table

    _, _, rules = _load(config)
    rows: list[dict[str, Any]] = [
        {
            "id": r.id, "entity": r.entity, "event": _describe(r),
            "mode": "-" if r.scheduled else r.mode,
            "stage": r.stage, "enabled": r.enabled, "order": r.order,
            "scope": r.scope.source if r.scope else None, "when": r.when.source,
            "actions": [a.name for a in r.actions],
            "otherwise": [a.name for a in r.otherwise],
        }
        for r in rules.rules
    ]
    if as_json:
        emit(rows, as_json=True)
        return
    table = Table(title=f"Triggers ({rules.file})")
    for col in ("id", "entity", "event", "mode", "stage", "enabled", "actions"):
        table.add_column(col)
    for row in rows:
        acts = ", ".join(row["actions"]) + (
            f" / otherwise {', '.join(row['otherwise'])}" if row["otherwise"] else "")
        table.add_row(row["id"], row["entity"], row["event"], row["mode"], row["stage"],
                      "yes" if row["enabled"] else "no", acts)
    console.print(table)


def _store_connection(settings: Settings) -> Any:
    """A read connection to an existing store, or None (``test`` creates nothing)."""
    from sqlalchemy import inspect

    from connector.store import make_engine, read_connection

    url = settings.database.url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
        return None
    try:
        engine = make_engine(url)
        if "partner" not in inspect(engine).get_table_names():
            return None
        return read_connection(engine)
    except Exception:  # no store to read facts from: the record file must carry them
        return None


@triggers_app.command("test")
def test_cmd(
    rule: Annotated[str, typer.Option("--rule", help="The trigger to try (its id).")],
    record: Annotated[Path, typer.Option("--record", help=(
        "JSON/YAML file with the record's local fields; optional keys 'partner' (a map of "
        "facts to use) and 'conflict' (true/false) override the store."))],
    old: Annotated[Path | None, typer.Option("--old", help=(
        "The previous version of the record (an update); without it, a create."))] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show what a trigger decides for a record, and why, changing nothing."""
    from connector.triggers.backtest import try_record
    from connector.triggers.consumer import decisions_json

    settings, spec, rules = _load(config)
    data = _read_record(record, "--record")
    old_data = _read_record(old, "--old") if old is not None else None
    partner = data.pop("partner_facts", None)
    if isinstance(data.get("partner"), dict):
        partner = data.pop("partner")
    conflict = data.pop("conflict", None)
    conn = _store_connection(settings)
    try:
        decision = try_record(spec, rules, rule, data, old_data, conn=conn, partner=partner,
                              conflict=conflict if isinstance(conflict, bool) else None)
    finally:
        if conn is not None:
            conn.close()
    out = decisions_json([decision])[0]
    if as_json:
        emit(out, as_json=True)
        return
    verdict = {"fire": "FIRES", "not_fired": "does not fire", "error": "ERROR"}[decision.outcome]
    branch = f" ({decision.branch})" if decision.branch else ""
    console.print(f"{rule}: {verdict}{branch}: {decision.reason}")
    for a in out["actions"]:
        console.print(f"  would {a['action']} {json.dumps(a['params'], default=str)}")
    console.print(f"  inputs: {json.dumps(out['inputs'], default=str)}")


def _parse_since(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not a date: {value!r} (use YYYY-MM-DD or an ISO time)",
                                 param_hint="--since") from None
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@triggers_app.command("replay")
def replay_cmd(
    since: Annotated[str, typer.Option("--since", help="Changes recorded since (YYYY-MM-DD).")],
    rule: RuleOption = None,
    show_all: Annotated[bool, typer.Option("--all", help=(
        "Also list changes a rule looked at and did not fire on."))] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest: what the triggers would have done on the change log since a date."""
    from rich.table import Table

    from connector.cli.common import open_engine
    from connector.triggers.backtest import backtest
    from connector.triggers.consumer import decisions_json

    settings, spec, rules = _load(config, store_only=True)
    when = _parse_since(since)
    engine = open_engine(settings)
    decisions = backtest(engine, spec, rules, when, rule_id=rule)
    shown = [d for d in decisions if show_all or d.outcome != "not_fired"]
    rows = decisions_json(shown)
    summary = {
        "since": when.isoformat(), "decisions": len(decisions),
        "would_fire": sum(d.outcome == "fire" for d in decisions),
        "errors": sum(d.outcome == "error" for d in decisions),
    }
    if as_json:
        emit({**summary, "results": rows}, as_json=True)
        return
    table = Table(title=f"Backtest since {when.date().isoformat()}")
    for col in ("seq", "rule", "record", "op", "outcome", "actions", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["seq"]), r["rule"], str(r["sf_id"] or r["local_id"]), r["op"],
                      r["outcome"], ", ".join(a["action"] for a in r["actions"]), r["reason"])
    console.print(table)
    console.print(f"{summary['would_fire']} would fire, {summary['errors']} errors, of "
                  f"{summary['decisions']} decisions")


@triggers_app.command("log")
def log_cmd(
    rule: RuleOption = None,
    record: Annotated[str | None, typer.Option("--record", help=(
        "Only this record (local id or Salesforce id)."))] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many, newest first.")] = 50,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The audit trail: each decision with its inputs, result, actions and outbox items."""
    from rich.table import Table

    from connector.cli.common import open_engine
    from connector.store import read_connection
    from connector.triggers.audit import read_log

    settings, _ = load_config(config, store_only=True)
    engine = open_engine(settings)
    with read_connection(engine) as conn:
        rows = read_log(conn, rule=rule, record=record, limit=limit)
    if as_json:
        emit(rows, as_json=True)
        return
    table = Table(title="Trigger decisions")
    for col in ("at", "rule", "record", "outcome", "stage", "actions", "outbox", "reason"):
        table.add_column(col)
    for r in rows:
        acts = ", ".join(f"{a.get('action')}:{a.get('status', 'planned')}"
                         for a in (r["actions"] or []))
        table.add_row(r["decided_at"].strftime("%Y-%m-%d %H:%M:%S"), r["trigger_id"],
                      f"{r['entity']} {r['sf_id'] or r['local_id']}", r["outcome"], r["stage"],
                      acts, str(len(r["outbox_ids"] or [])), r["reason"] or "")
    console.print(table)


@triggers_app.command("run-scheduled")
def run_scheduled_cmd(
    rule: RuleOption = None,
    wait: Annotated[bool, typer.Option("--wait", help=(
        "Wait for another run holding the store instead of exiting."))] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=(
        "Show each record's verdict (a tier review's 'Platinum -> Gold: ...') without "
        "changing, queueing or claiming anything: the run is rolled back."))] = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the scheduled triggers (or one) for their latest cron slot; once per slot."""
    from connector.service import open_runtime, run_lock
    from connector.triggers.scheduled import preview_scheduled, run_scheduled

    rt = open_runtime(config)  # bad rules: exit 2, no lock
    decisions: list[dict[str, Any]] = []
    try:
        rules = rt.rules.rules
        with run_lock(rt, "triggers", wait=wait):
            if dry_run:
                report, decisions = preview_scheduled(rt.engine, rt.spec, rules, rt.clock,
                                                      rule_id=rule)
            else:
                report = run_scheduled(rt.engine, rt.spec, rules, rt.clock, rule_id=rule)
    finally:
        rt.close()
    counts = report.counts()
    if dry_run:
        _print_preview(counts, decisions, as_json)
        return
    if as_json:
        emit(counts, as_json=True)
        return
    console.print(f"records {counts['changes']}, fired {counts['fired']}, dry run "
                  f"{counts['dry_run']}, already fired {counts['already_fired']}, errors "
                  f"{counts['errors']}, outbox items {counts['outbox']}")


def _print_preview(counts: dict[str, int], decisions: list[dict[str, Any]],
                   as_json: bool) -> None:
    rows = [{"rule": d["trigger_id"], "record": d["sf_id"] or d["local_id"],
             "outcome": d["outcome"], "reason": d["reason"],
             "actions": [{k: a.get(k) for k in ("action", "status", "detail")}
                         for a in d["actions"] or []]} for d in decisions]
    if as_json:
        emit({**counts, "preview": True, "decisions": rows}, as_json=True)
        return
    from rich.table import Table

    table = Table(title="What the scheduled run would do (dry run: nothing was changed)")
    for col in ("rule", "record", "outcome", "actions"):
        table.add_column(col, overflow="fold")
    for r in rows:
        acts = "; ".join(f"{a['action']}: {a['status'] or 'planned'}"
                         + (f" ({a['detail']})" if a["detail"] else "") for a in r["actions"])
        table.add_row(r["rule"], str(r["record"]), r["outcome"], acts or r["reason"] or "")
    console.print(table)
    console.print(f"records {counts['changes']}, would fire {counts['fired']}, errors "
                  f"{counts['errors']}, outbox items it would queue {counts['outbox']}")


def print_status_section(rows: list[dict[str, Any]]) -> None:
    """Render the triggers part of the status (``StatusReader.triggers``) as a table."""
    from rich.table import Table

    if not rows:
        console.print("Triggers: no decisions recorded yet")
        return
    table = Table(title="Triggers")
    for col in ("rule", "fired", "dry run", "errors", "last", "last error"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["rule"], str(r["fired"]), str(r["dry_run"]), str(r["error"]),
                      r["last_at"] or "-", r["last_error"] or "")
    console.print(table)
