"""A store seeded the way inbound sync leaves it: rows, snapshots and change-log entries."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from connector.mapping import MappingSpec, load_mapping
from connector.partners.env import RuleEnv
from connector.store.bookkeeping import OutboxItem
from connector.store.diffs import RecordDiff
from connector.store.models import column_types, entity_table
from connector.store.records import RecordRow, load_snapshots, upsert_records
from connector.store.sqlutil import from_json_safe, to_json_safe
from connector.store.stream import append_changes
from connector.store.trigger_log import TriggerDecision
from connector.triggers import RuleSet, TriggersReport, loads_triggers, run_triggers

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEVELS = (("Registered", 1.0), ("Silver", 2.0), ("Gold", 3.0), ("Platinum", 4.0))

__all__ = ["LEVELS", "NOW", "ROOT", "Store", "days_ago", "default_spec"]


def default_spec() -> MappingSpec:
    """The shipped mapping.yaml."""
    return load_mapping(ROOT / "config" / "mapping.yaml")


class Store:
    """Seeds a migrated store through the same writers inbound sync uses."""

    def __init__(self, engine: Engine, spec: MappingSpec | None = None, *,
                 env: RuleEnv | None = None) -> None:
        self.engine = engine
        self.spec = spec or default_spec()
        self.env = env  # the rule environment rules load in (None: the partner layer's)
        self._ids = itertools.count(1)
        self._stamp = datetime(2026, 11, 1, tzinfo=UTC)
        self.now = NOW

    def clock(self) -> datetime:
        """The fixed test clock."""
        return self.now

    def sf_id(self, prefix: str = "a0X") -> str:
        """A fresh 18-character Salesforce-like id."""
        return f"{prefix}{next(self._ids):015d}"

    def put(
        self, entity: str, values: dict[str, Any], *, sf_id: str | None = None,
        source: str = "poll", echo: bool = False, log: bool = True, origin: str = "005USER",
    ) -> tuple[str, int]:
        """Upsert a record (merging with its snapshot) and log the change; (sf_id, local id)."""
        sf_id = sf_id or self.sf_id()
        self._stamp += timedelta(seconds=1)
        with self.engine.begin() as conn:
            snap = load_snapshots(conn, entity, [sf_id]).get(sf_id)
            old = dict(snap.values) if snap is not None else None
            new = {**(old or {}), **to_json_safe(values)}
            typed = {**from_json_safe(old or {}, column_types(entity)), **values}
            ids = upsert_records(conn, entity, [RecordRow(sf_id, typed, self._stamp, origin)])
            changed = tuple(k for k in new if (old or {}).get(k) != new.get(k))
            if log:
                append_changes(conn, [RecordDiff(
                    entity, sf_id, "created" if old is None else "updated", old, new, changed,
                    origin, self._stamp, ids[sf_id], echo, source)], cycle_id="test")
        return sf_id, ids[sf_id]

    def delete(self, entity: str, sf_id: str) -> None:
        """Log a deletion of a record."""
        with self.engine.begin() as conn:
            snap = load_snapshots(conn, entity, [sf_id])[sf_id]
            append_changes(conn, [RecordDiff(entity, sf_id, "deleted", dict(snap.values), None,
                                             (), None, self._stamp, snap.local_id)],
                           cycle_id="test")

    def program(self) -> dict[str, int]:
        """A channel program with the default levels; level name -> local id."""
        _, program = self.put("program", {"name": "Partner Program", "is_active": True},
                              log=False)
        out = {}
        for name, rank in LEVELS:
            _, out[name] = self.put("level", {"name": name, "program": program, "rank": rank},
                                    sf_id=self.sf_id("0lv"), log=False)
        out["_program"] = program
        return out

    def partner(
        self, name: str = "Acme Partners", *, status: str = "Active", level: str | None = None,
        levels: dict[str, int] | None = None, log: bool = False, **values: Any,
    ) -> tuple[str, int]:
        """A partner account, a member of the program at ``level`` when given."""
        sf, pid = self.put("partner", {"name": name, "is_partner": True, "status": status,
                                       "channel_manager": "005CHANNELMGR00001", **values},
                           sf_id=self.sf_id("001"), log=log)
        if level is not None and levels is not None:
            self.put("membership", {"partner": pid, "program": levels["_program"],
                                    "level": levels[level]}, sf_id=self.sf_id("0cm"), log=False)
        return sf, pid

    def row(self, entity: str, local_id: int) -> dict[str, Any]:
        """A row of an entity table."""
        table = entity_table(entity)
        with self.engine.connect() as conn:
            return dict(conn.execute(select(table).where(table.c.id == local_id)).mappings()
                        .one())

    def rows(self, entity: str) -> list[dict[str, Any]]:
        """Every row of an entity table."""
        table = entity_table(entity)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]

    def outbox(self) -> list[dict[str, Any]]:
        """Every outbox item, oldest first."""
        table = OutboxItem.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(
                select(table).order_by(table.c.created_at, table.c.id)).mappings()]

    def firings(self) -> list[str]:
        """The firing keys, sorted."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(text("SELECT key FROM trigger_firing")).scalars())

    def decisions(self) -> list[dict[str, Any]]:
        """The audit rows, oldest first."""
        table = TriggerDecision.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).order_by(table.c.id))
                    .mappings()]

    def rules(self, text_: str) -> RuleSet:
        """Rules from YAML text against the default mapping."""
        return loads_triggers(text_, self.spec, env=self.env)

    def shipped_rules(self) -> RuleSet:
        """config/triggers.yaml."""
        return loads_triggers((ROOT / "config" / "triggers.yaml").read_text(), self.spec,
                              env=self.env)

    def run(self, rules: RuleSet, **kw: Any) -> TriggersReport:
        """Consume the change log with ``rules`` at the test clock."""
        return run_triggers(self.engine, self.spec, rules, self.clock, **kw)


def days_ago(n: int) -> date:
    """A date ``n`` days before the test clock."""
    return (NOW - timedelta(days=n)).date()


