"""Programs tests: the shipped programs.yaml, and stores on SQLite (and PostgreSQL when set)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from connector.partners.env import RuleEnv
from connector.programs import ProgramsSpec, load_programs
from connector.programs.hooks import extension
from connector.store.models import column_types, entity_table

from dbfixtures import db_kind, engine
from sync.conftest import emulator

__all__ = [
    "NOW", "add_deal", "add_partner", "db_kind", "default_spec", "emulator", "engine",
    "programs_env",
]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def programs_env(spec: ProgramsSpec | None) -> RuleEnv:
    """The rule environment a runtime with ``spec`` as programs.yaml builds."""
    return RuleEnv().extended(extension(spec))


@pytest.fixture(scope="session")
def default_spec() -> ProgramsSpec:
    """The programs.yaml `init` writes."""
    return load_programs(ROOT / "connector" / "defaults" / "programs.yaml")


def add_partner(conn: Connection, name: str, **extra: Any) -> int:
    """Insert a partner row: columns (partner_type, billing_country, industry, ...) as columns,
    any other keyword in ``extra`` as a field mapping.yaml adds would be kept."""
    table = entity_table("partner")
    values: dict[str, Any] = {"name": name, "status": extra.pop("status", "Active"),
                              "sf_id": extra.pop("sf_id", None), "is_deleted": False,
                              "created_at": NOW, "updated_at": NOW}
    for column in column_types("partner"):
        if column in extra:
            values[column] = extra.pop(column)
    if extra:
        values["extra"] = extra
    return int(conn.execute(insert(table).values(**values)).inserted_primary_key[0])


def add_deal(conn: Connection, partner_id: int, amount: float, close: date) -> None:
    """Insert a won deal of ``partner_id``."""
    conn.execute(insert(entity_table("deal")).values(
        name="deal", partner=partner_id, amount=amount, stage="Closed Won", close_date=close,
        is_closed=True, is_won=True, is_deleted=False, created_at=NOW, updated_at=NOW))
