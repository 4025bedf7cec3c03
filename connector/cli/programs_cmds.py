"""Partner program commands: programs show, partner show|eligible, record ..., segments preview."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, console, emit
from connector.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy import Connection, Engine

    from connector.mapping.spec import MappingSpec
    from connector.programs.spec import ProgramsSpec
    from connector.settings import Settings

__all__: list[str] = []

programs_app = typer.Typer(help="Show the configured partner programs.", no_args_is_help=True)
partner_app = typer.Typer(help="One partner's program state.", no_args_is_help=True)
record_app = typer.Typer(help="Record program progress made outside Salesforce.",
                         no_args_is_help=True)
segments_app = typer.Typer(help="Partner segments (programs.yaml).", no_args_is_help=True)
app.add_typer(programs_app, name="programs")
app.add_typer(partner_app, name="partner")
app.add_typer(record_app, name="record")
app.add_typer(segments_app, name="segments")

PartnerArg = Annotated[str, typer.Argument(help="The partner: local id, Salesforce id or name.")]
ByOption = Annotated[
    str | None,
    typer.Option("--by", help="Who made the change (default: the logged-in user)."),
]


WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait", help="If another run holds the store, wait for it instead of exiting 1."
    ),
]


def _no_programs(settings: Settings) -> ConfigError:
    return ConfigError([ConfigProblem(str(settings.base_dir / "connector.yaml"), 1, 1, (
        "no programs.yaml: put one next to connector.yaml or name it with `programs:` "
        "(`prm-connector init DIR` writes a default one)"))])


def _load(config: Path | None) -> tuple[Settings, MappingSpec, ProgramsSpec]:
    """connector.yaml, mapping.yaml and programs.yaml, validated (exit 2) before the store."""
    from connector.mapping import load_mapping
    from connector.programs import load_programs
    from connector.settings import load_settings

    settings = load_settings(config)
    mapping = load_mapping(settings.mapping_path)
    if settings.programs_path is None:
        raise _no_programs(settings)
    return settings, mapping, _with_fiscal_year(settings, load_programs(settings.programs_path))


def _with_fiscal_year(settings: Settings, spec: ProgramsSpec) -> ProgramsSpec:
    """``spec`` counting quarters as the rules do (triggers.yaml's fiscal_year_start_month,
    read without compiling a rule: these commands run none)."""
    from dataclasses import replace

    from connector.triggers.loader import load_trigger_settings

    month = load_trigger_settings(settings.triggers_path).fiscal_year_start_month
    return replace(spec, fiscal_year_start_month=month)


def _spec(config: Path | None) -> tuple[Settings, ProgramsSpec]:
    """connector.yaml and programs.yaml: what the read-only views need (they read no
    mapping.yaml and run no trigger, so neither is loaded: the commands start faster)."""
    from connector.programs.loader import load_programs
    from connector.settings import load_settings

    settings = load_settings(config, store_only=True)
    if settings.programs_path is None:
        raise _no_programs(settings)
    return settings, _with_fiscal_year(settings, load_programs(settings.programs_path))


def _engine(settings: Settings) -> Engine:
    from connector.cli.common import open_engine

    return open_engine(settings)


def _now() -> Any:
    from connector.store.types import utcnow

    return utcnow()


def _partner_view(
    config: Path | None, partner: str,
    view: Callable[[Connection, ProgramsSpec, int, datetime], dict[str, Any]],
) -> dict[str, Any]:
    """``view`` of one partner (a local id, Salesforce id or name) read from the store."""
    from connector.programs.views import resolve_partner

    settings, spec = _spec(config)
    engine = _engine(settings)
    try:
        with engine.connect() as conn:
            return view(conn, spec, resolve_partner(conn, partner), _now())
    finally:
        engine.dispose()


def _locked(
    config: Path | None, wait: bool,
    edit: Callable[[Engine, ProgramsSpec, MappingSpec], dict[str, Any]],
) -> dict[str, Any]:
    """Run a person's edit under the store's run lock, as sync does (one writer per store):
    a held lock exits 1 naming its holder, or is waited for with ``wait``. The edit gets the
    mapping to queue what the partner portal reads with it."""
    from connector.service.lock import run_lock
    from connector.service.runtime import Runtime

    settings, mapping, spec = _load(config)
    rt = Runtime(settings=settings, spec=mapping, engine=_engine(settings))
    try:
        with run_lock(rt, "record", wait=wait):
            return edit(rt.engine, spec, mapping)
    finally:
        rt.close()


@programs_app.command("show")
def programs_show(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Print the configured programs, tracks, tier ladders, segments and incentives."""
    from rich.table import Table

    from connector.programs.views import program_overview

    _, spec = _spec(config)
    data = program_overview(spec)
    if as_json:
        emit(data, as_json=True)
        return
    for p in data["programs"]:
        table = Table(title=f"{p['name']} ({p['program']})")
        for col in ("track", "open to", "requires", "steps (points)"):
            table.add_column(col)
        for t in p["tracks"]:
            opened = ", ".join(t["open_to"]["partner_types"] + t["open_to"]["segments"])
            steps = ", ".join(f"{s['step']} [{s['kind']}] ({s['points']})" for s in t["steps"])
            table.add_row(t["track"], opened or "everyone", ", ".join(t["requires"]) or "-",
                          steps)
        console.print(table)
        if p["ladder"]:
            levels = "; ".join(
                f"{lv['level']}: " + (", ".join(f"{k} >= {v:g}" for k, v in lv["min"].items())
                                      or "-")
                + (f", tracks {', '.join(lv['tracks'])}" if lv["tracks"] else "")
                for lv in p["ladder"]["levels"])
            console.print(f"ladder: {levels}")
            for v in p["ladder"]["variants"]:
                console.print(f"  variant {v['variant']} for "
                              f"{', '.join(v['countries'] + v['industries'])}: "
                              f"{', '.join(lv['level'] for lv in v['levels'])}")
    for s in data["segments"]:
        console.print(f"segment [bold]{s['segment']}[/bold]: {s['when']}")
    for i in data["incentives"]:
        console.print(f"incentive [bold]{i['incentive']}[/bold] ({i['kind']}) {i['name']}: "
                      f"segments {', '.join(i['eligible']['segments']) or 'any'}, "
                      f"min tier {i['eligible']['min_tier'] or 'any'}")


@partner_app.command("show")
def partner_show(
    partner: PartnerArg, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Facts, segments, tracks with progress, points ledger, tier and why, eligibility."""
    from rich.table import Table

    from connector.programs.views import partner_report

    report = _partner_view(config, partner, partner_report)
    if as_json:
        emit(report, as_json=True)
        return
    p, f = report["partner"], report["facts"]
    console.print(f"[bold]{p['name']}[/bold] (id {p['id']}, {p['sf_id'] or 'not in Salesforce'})"
                  f": {f.get('type') or 'no type'}, {f.get('country') or 'no country'}, "
                  f"{f.get('industry') or 'no industry'}, status {f.get('status')}")
    console.print(f"points {report['points']['balance']}, certifications "
                  f"{f['certifications']}, won trailing 4q {f['closed_won_trailing_4q']:,.0f}")
    console.print(f"segments: {', '.join(report['segments']) or 'none'}")
    table = Table(title="tracks")
    for col in ("track", "status", "%", "next step", "blocked by"):
        table.add_column(col)
    for t in report["tracks"]:
        if t["status"] == "not_enrolled" and not t["open"]:
            continue
        table.add_row(t["track"], t["status"], f"{t['percent']:g}", t["next_step"] or "-",
                      t["blocked"] or "-")
    console.print(table)
    for pid, tier in report["tiers"].items():
        console.print(f"tier in {pid}: {tier['why']} (in Salesforce: {tier['current'] or '-'})")
    for e in report["points"]["ledger"][-10:]:
        console.print(f"  {e['awarded_at']:%Y-%m-%d} {e['points']:+d} {e['reason']} "
                      f"({e['cause']})")
    for i in report["incentives"]:
        mark = "eligible" if i["eligible"] else "not eligible"
        console.print(f"{i['incentive']}: {mark}: {i['why']}")


@partner_app.command("eligible")
def partner_eligible(
    partner: PartnerArg, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """The programs, tracks and incentives this partner may see (a partner portal's answer)."""
    from connector.programs.views import eligibility

    data = _partner_view(config, partner, eligibility)
    if as_json:
        emit(data, as_json=True)
        return
    console.print(f"[bold]{data['partner']['name']}[/bold]: segments "
                  f"{', '.join(data['segments']) or 'none'}")
    for p in data["programs"]:
        console.print(f"program {p['program']} (tier {p['tier'] or '-'}): tracks "
                      f"{', '.join(p['tracks']) or 'none'}")
    for i in data["incentives"]:
        console.print(f"incentive {i['incentive']} ({i['kind']}) {i['name']}: {i['why']}")
    if not data["incentives"]:
        console.print("no incentive yet")


def _print_record(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit(result, as_json=True)
        return
    console.print(result["detail"])
    for s in result["segments"]:
        console.print(f"{s['event'].replace('_', ' ')}: {s['segment']}")


@record_app.command("step-complete")
def record_step_complete(
    partner: PartnerArg,
    step: Annotated[str, typer.Argument(help="The step id from programs.yaml.")],
    by: ByOption = None,
    wait: WaitOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mark a step done; refused (exit 2, with the reason) when a prerequisite is missing."""
    from connector.programs.local import record_step

    result = _locked(config, wait, lambda engine, spec, mapping: record_step(
        engine, spec, partner, step, by=by or getpass.getuser(), now=_now(), mapping=mapping))
    _print_record(result, as_json)


@record_app.command("points")
def record_points_cmd(
    partner: PartnerArg,
    points: Annotated[int, typer.Argument(help="Points to add (negative to deduct).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the ledger).")],
    by: ByOption = None,
    wait: WaitOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add points to a partner's ledger; the balance goes to Partner_Points__c."""
    from connector.programs.local import record_points

    result = _locked(config, wait, lambda engine, spec, mapping: record_points(
        engine, spec, partner, points, reason=reason, by=by or getpass.getuser(), now=_now(),
        mapping=mapping))
    _print_record(result, as_json)


@record_app.command("enroll")
def record_enroll(
    partner: PartnerArg,
    track: Annotated[str, typer.Argument(help="The track id from programs.yaml.")],
    by: ByOption = None,
    wait: WaitOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Enrol a partner in a track by hand."""
    from connector.programs.local import record_enrolment

    result = _locked(config, wait, lambda engine, spec, mapping: record_enrolment(
        engine, spec, partner, track, by=by or getpass.getuser(), now=_now(), mapping=mapping))
    _print_record(result, as_json)


@segments_app.command("preview")
def segments_preview(
    name: Annotated[str, typer.Argument(help="The segment (or a new name with --when).")],
    when: Annotated[
        str | None, typer.Option("--when", help="A draft CEL definition to compare with.")
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who is in a segment now, and who would enter or leave with a draft definition."""
    from connector.programs.views import segment_preview

    settings, spec = _spec(config)
    engine = _engine(settings)
    with engine.connect() as conn:
        data = segment_preview(conn, spec, name, _now(), when=when)
    if as_json:
        emit(data, as_json=True)
        return
    what = "draft" if data["draft"] else "current definition"
    console.print(f"segment {name}: {len(data['members'])} member(s) now; with the {what} "
                  f"({data['definition']}): {data['would_be_members']} of {data['partners']}")
    for label in ("enter", "leave"):
        rows = data[label]
        names = ", ".join(f"{r['name']} ({r['id']})" for r in rows[:20])
        more = f" and {len(rows) - 20} more" if len(rows) > 20 else ""
        console.print(f"would {label}: {len(rows)}" + (f": {names}{more}" if rows else ""))
    if data["error_count"]:
        console.print(f"{data['error_count']} partner(s) could not be evaluated, e.g. "
                      f"{data['errors'][0]['error']}")
