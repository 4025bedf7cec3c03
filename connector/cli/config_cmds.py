"""Configuration commands: init, check, mapping scaffold."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

from connector.cli import app
from connector.cli.common import ConfigOption, JsonOption, console, emit, settings_from
from connector.errors import ConfigError

__all__ = ["DEFAULTS_DIR", "write_defaults"]

DEFAULTS_DIR = Path(__file__).resolve().parent.parent / "defaults"
DEFAULT_FILES = ("connector.yaml", "mapping.yaml", "triggers.yaml", "programs.yaml")

mapping_app = typer.Typer(help="Work with mapping.yaml.", no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")


def write_defaults(target: Path, *, force: bool = False) -> list[Path]:
    """Copy the default connector.yaml, mapping.yaml, triggers.yaml and programs.yaml."""
    target.mkdir(parents=True, exist_ok=True)
    existing = [target / n for n in DEFAULT_FILES if (target / n).exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise typer.BadParameter(f"would overwrite {names}; pass --force to replace them")
    written = []
    for name in DEFAULT_FILES:
        shutil.copyfile(DEFAULTS_DIR / name, target / name)
        written.append(target / name)
    return written


@app.command("init")
def init_cmd(
    directory: Annotated[Path, typer.Argument(help="Folder to write the config files into.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    config: ConfigOption = None,
) -> None:
    """Write DIR/connector.yaml, mapping.yaml, triggers.yaml and programs.yaml to start from."""
    for path in write_defaults(directory, force=force):
        console.print(f"wrote {path}")
    console.print(
        "Next: set PRM_SF_LOGIN_URL, PRM_SF_USERNAME, PRM_SF_PASSWORD, PRM_SF_CLIENT_ID and "
        f"PRM_SF_CLIENT_SECRET, then run `prm-connector -c {directory / 'connector.yaml'} check`."
    )


@app.command("check")
def check_cmd(
    config: ConfigOption = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Validate the files only; do not call the org.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate connector, mapping, triggers and programs files; the mapping against the store
    and the org.

    Prints one line per problem (file:line:col: message) and exits 2 if there is any.
    """
    from connector.mapping import (
        load_mapping,
        validate_against_describe,
        validate_against_store,
    )
    from connector.salesforce import connect
    from connector.service.access import connector_access
    from connector.service.rules import build_rules
    from connector.store.models import ENTITY_MODELS, column_types, lookup_targets

    settings = settings_from(config)
    spec = load_mapping(settings.mapping_path)
    problems = validate_against_store(
        spec,
        lambda e: column_types(e) if e in ENTITY_MODELS else None,
        lambda e: lookup_targets(e) if e in ENTITY_MODELS else {},
    )
    programs = None
    triggers = 0
    try:  # programs.yaml and triggers.yaml, loaded as a runtime loads them
        rules = build_rules(settings, spec)
        programs, triggers = rules.programs, len(rules.rules.rules)
    except ConfigError as err:
        problems += err.problems
    if problems:  # the files first: a broken file is reported without calling the org
        raise ConfigError(problems)
    if not offline:
        client = connect(settings.salesforce)
        names = [s["name"] for s in client.describe_global().get("sobjects", [])]
        lowered = {n.lower() for n in names}

        def describe(sobject: str) -> dict[str, Any] | None:
            if sobject.lower() not in lowered:
                return None
            return client.describe(sobject)

        access = connector_access(client, settings.salesforce.username)
        problems += validate_against_describe(spec, describe, sobject_names=names,
                                              access=access)
    if problems:
        raise ConfigError(problems)
    result = {
        "ok": True,
        "config": str(settings.base_dir),
        "entities": list(spec.entities),
        "triggers": triggers,
        "checked_against_org": not offline,
        "programs": sorted(programs.programs) if programs else [],
    }
    if as_json:
        emit(result, as_json=True)
    else:
        where = "the org's describe" if not offline else "(files only)"
        console.print(f"OK: {len(spec.entities)} entities mapped, {triggers} triggers, "
                      f"validated against {where}")


@mapping_app.command("scaffold")
def scaffold_cmd(
    sobject: Annotated[str, typer.Argument(help="The sObject to describe, e.g. Account.")],
    config: ConfigOption = None,
) -> None:
    """Print a starter mapping for SOBJECT, generated from the org's describe."""
    from connector.mapping import scaffold
    from connector.salesforce import connect

    settings = settings_from(config)
    client = connect(settings.salesforce)
    typer.echo(scaffold(client.describe(sobject)), nl=False)
