"""The operations page's read layer: each page's data, from the store's own query functions.

Every function composes what a CLI command already calls (``status``, ``outbox list``,
``triggers log``, ``partner show`` ...) so a page and its command answer alike; the page's JSON
twin is the command's ``--json``. When the service layer's status read model lands, these are
the functions to point at it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, func, select

from connector.store.types import utcnow

if TYPE_CHECKING:
    from connector.mapping import MappingSpec
    from connector.programs.spec import ProgramsSpec
    from connector.service.rules import RulesEnvironment
    from connector.settings import Settings
    from connector.triggers.spec import RuleSet

__all__ = [
    "OpsSource",
    "audit_log",
    "conflicts",
    "dead_groups",
    "decisions",
    "objects",
    "outbox_page",
    "overview",
    "partner_eligible",
    "partner_list",
    "partner_show",
    "programs_page",
    "record_action",
    "rules_page",
    "runs_page",
    "segment_preview",
    "try_rule",
]

# The newest unresolved dead letters the overview lists (as `status` does).
DEAD_SHOWN = 10


def _no_daemon() -> bool:
    return False


@dataclass
class OpsSource:
    """What the pages read: the store, the config it was loaded with, and the daemon's state."""

    settings: Settings
    spec: MappingSpec
    engine: Engine
    programs: ProgramsSpec | None = None
    clock: Callable[[], datetime] = utcnow
    # True while a daemon runs this store (the overview then refreshes itself)
    daemon_running: Callable[[], bool] = _no_daemon
    # the runtime's rule environment (``Runtime.rules``: it follows the daemon's reloads);
    # None: built once from ``settings``, as a runtime would
    environment: Callable[[], RulesEnvironment] | None = None
    _built: RulesEnvironment | None = field(default=None, repr=False)

    def rules_environment(self) -> RulesEnvironment:
        """The rule environment the rules run in (facts, actions, fiscal calendar)."""
        if self.environment is not None:
            return self.environment()
        if self._built is None:
            from connector.service.rules import build_rules

            self._built = build_rules(self.settings, self.spec)
        return self._built

    def rules(self) -> RuleSet:
        """triggers.yaml, as the running rules are (one loader: the rule environment's)."""
        return self.rules_environment().rules

    def connect(self) -> Any:
        from connector.store import read_connection

        return read_connection(self.engine)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (datetime, date)) else value


# --- overview (= `status --json`) ------------------------------------------------------------
def overview(src: OpsSource, conn: Connection) -> dict[str, Any]:
    """What `status --json` answers (the status read model, ``service.status``)."""
    from connector.service.status import read_status

    return read_status(
        src.engine, src.spec, database_url=src.settings.database.url,
        segments=src.programs.segments if src.programs is not None else None, clock=src.clock,
    )


def objects(src: OpsSource, conn: Connection) -> list[dict[str, Any]]:
    """Per mapped object: rows, cursor, last run and its status, backfill, dead letters."""
    from connector.service.status import StatusReader

    return StatusReader(conn, clock=src.clock).objects(src.spec)


def lag_seconds(cursor: str | None, now: datetime) -> float | None:
    """How far an object's cursor is behind now."""
    if not cursor:
        return None
    return max(0.0, (now - datetime.fromisoformat(cursor)).total_seconds())


# --- objects and runs ------------------------------------------------------------------------
def runs_page(
    conn: Connection, *, kind: str | None = None, limit: int = 50, before: str | None = None
) -> dict[str, Any]:
    """Runs, newest first, each with its counts (pages by ``before``)."""
    from connector.store import repo

    runs = repo.list_sync_runs(conn, kind=kind, limit=limit + 1, before=before)
    return {"runs": runs[:limit], "next": runs[limit - 1]["id"] if len(runs) > limit else None}


# --- outbox ----------------------------------------------------------------------------------
OUTBOX_FILTERS = ("status", "sobject", "operation", "error_code", "search")


def outbox_page(
    conn: Connection, filters: dict[str, str | None], *, limit: int = 100,
    after: str | None = None,
) -> dict[str, Any]:
    """What `outbox list --json` answers (``summary``, ``items``), narrowed by ``filters``;
    ``next`` is the id to page on from (None on the last page)."""
    from connector.outbox.admin import count_items, list_items, outbox_summary

    f = filters.get
    items = list_items(conn, limit=limit + 1, after=after, status=f("status"),
                       sobject=f("sobject"), operation=f("operation"),
                       error_code=f("error_code"), search=f("search"))
    total, newest, exact = count_items(conn, status=f("status"), sobject=f("sobject"),
                                operation=f("operation"), error_code=f("error_code"),
                                search=f("search"))
    return {
        "summary": outbox_summary(conn),
        "items": items[:limit],
        "next": items[limit - 1]["id"] if len(items) > limit else None,
        "matching": total,
        "matching_exact": exact,
        "newest": newest,
    }


def dead_groups(conn: Connection) -> list[dict[str, Any]]:
    """Dead writes grouped by Salesforce error code."""
    from connector.outbox.admin import dead_by_code

    return dead_by_code(conn)


def conflicts(conn: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """What `outbox conflicts --json` answers."""
    from connector.outbox.admin import list_conflicts

    return list_conflicts(conn, limit=limit)


# --- decisions -------------------------------------------------------------------------------
def decisions(
    conn: Connection, *, rule: str | None = None, record: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """What `triggers log --json` answers."""
    from connector.triggers.audit import read_log

    return read_log(conn, rule=rule, record=record, limit=limit)


# --- partners --------------------------------------------------------------------------------
def partner_list(conn: Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """The first partners by local id (name, Salesforce id) to pick from."""
    from connector.store import repo

    rows = repo.iter_entity(conn, "partner", batch=limit, fields=["name", "status"])
    return [{"id": r["id"], "name": r.get("name"), "sf_id": r.get("sf_id"),
             "status": r.get("status")}
            for r in itertools.islice((r for r in rows if not r.get("is_deleted")), limit)]


def partner_show(src: OpsSource, conn: Connection, ref: str) -> dict[str, Any]:
    """What `partner show --json` answers."""
    from connector.programs.views import partner_report, resolve_partner

    spec = _programs(src)
    return partner_report(conn, spec, resolve_partner(conn, ref), src.clock())


def partner_eligible(src: OpsSource, conn: Connection, ref: str) -> dict[str, Any]:
    """What `partner eligible --json` answers."""
    from connector.programs.views import eligibility, resolve_partner

    spec = _programs(src)
    return eligibility(conn, spec, resolve_partner(conn, ref), src.clock())


def _programs(src: OpsSource) -> ProgramsSpec:
    if src.programs is None:
        from connector.programs.operations import UnknownName

        raise UnknownName("no programs.yaml is configured: partner programs are not set up")
    return src.programs


# --- rules -----------------------------------------------------------------------------------
def rules_page(src: OpsSource, conn: Connection, *, days: int = 30) -> dict[str, Any]:
    """Each rule (as `triggers list --json` gives it) with its decisions by outcome and its
    firings per day over the last ``days`` days (oldest first)."""
    from datetime import timedelta

    from connector.triggers.audit import firings_by_day, rule_stats

    stats = rule_stats(conn)
    today = src.clock().date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    rules = []
    for r in src.rules().rules:
        event = f"schedule {r.schedule}" if r.schedule else "on " + ", ".join(r.on)
        s = stats.get(r.id, {})
        rules.append({
            "id": r.id, "entity": r.entity, "event": event,
            "mode": "-" if r.scheduled else r.mode, "stage": r.stage, "enabled": r.enabled,
            "order": r.order, "scope": r.scope.source if r.scope else None,
            "when": r.when.source, "actions": [a.name for a in r.actions],
            "otherwise": [a.name for a in r.otherwise],
            "stats": {k: (_iso(v)) for k, v in s.items()},
            "per_day": _per_day(firings_by_day(conn, r.id, since), first, days),
        })
    return {"rules": rules, "days": days}


def _per_day(counts: dict[str, int], first: date, days: int) -> list[int]:
    from datetime import timedelta

    return [counts.get((first + timedelta(days=n)).isoformat(), 0) for n in range(days)]


def try_rule(src: OpsSource, draft: str, since: date) -> dict[str, Any]:
    """A draft rule (one triggers.yaml entry, YAML) backtested on the change log since
    ``since`` exactly as `triggers replay` does, next to the live rule of the same id.

    Bad YAML or a bad rule raises ``ConfigError`` with the draft's line and column."""
    import textwrap

    from connector.errors import ConfigError, ConfigProblem
    from connector.triggers.backtest import backtest
    from connector.triggers.consumer import decisions_json
    from connector.triggers.loader import loads_triggers

    body = textwrap.dedent(draft.replace("\r\n", "\n").strip("\n"))
    if body.startswith("- "):
        body = textwrap.dedent(body[2:].replace("\n  ", "\n"))
    entry = "  - " + "\n    ".join(body.splitlines()) + "\n"
    environment = src.rules_environment()
    live = environment.rules
    try:
        drafted = loads_triggers("triggers:\n" + entry, src.spec, file="draft rule",
                                 env=environment.env)
    except ConfigError as err:  # at the draft's own lines and columns
        raise ConfigError([ConfigProblem(p.file, max(1, p.line - 1), max(1, p.column - 4),
                                         p.message) for p in err.problems]) from None
    if len(drafted.rules) != 1:
        raise ConfigError([ConfigProblem("draft rule", 1, 1, "give exactly one rule")])
    rule = drafted.rules[0]
    rules = replace(drafted, settings=live.settings)
    when = datetime.combine(since, datetime.min.time(), tzinfo=UTC)

    def run(ruleset: RuleSet) -> dict[str, Any]:
        found = backtest(src.engine, src.spec, ruleset, when, rule_id=rule.id, clock=src.clock)
        rows = decisions_json([d for d in found if d.outcome != "not_fired"])
        return {"since": when.isoformat(), "decisions": len(found),
                "would_fire": sum(d.outcome == "fire" for d in found),
                "errors": sum(d.outcome == "error" for d in found), "results": rows}

    drafted_result = run(rules)
    live_result = run(live) if live.get(rule.id) is not None else None
    diff: list[dict[str, Any]] = []
    if live_result is not None:
        before = {(r["seq"], r["local_id"]): r for r in live_result["results"]}
        after = {(r["seq"], r["local_id"]): r for r in drafted_result["results"]}
        for key in sorted(set(before) | set(after), key=lambda k: (k[0] or 0, k[1] or 0)):
            old, new = before.get(key), after.get(key)
            if old is None or new is None or (old["outcome"], old["branch"]) != (
                    new["outcome"], new["branch"]):
                row = new or old
                assert row is not None
                diff.append({"seq": key[0], "record": row["sf_id"] or row["local_id"],
                             "live": f"{old['outcome']} ({old['branch']})" if old
                             else "does not fire",
                             "draft": f"{new['outcome']} ({new['branch']})" if new
                             else "does not fire"})
    return {**drafted_result, "rule": rule.id, "live": live_result, "differences": diff,
            "yaml": entry}


# --- programs --------------------------------------------------------------------------------
def programs_page(src: OpsSource, conn: Connection) -> dict[str, Any]:
    """What `programs show --json` answers, with members per segment and each track's funnel."""
    from connector.programs.views import program_overview, programs_summary, track_funnel

    spec = _programs(src)
    data = program_overview(spec)
    return {**data, "summary": programs_summary(conn, spec.segments),
            "funnels": track_funnel(conn, spec)}


def segment_preview(
    src: OpsSource, conn: Connection, name: str, when: str | None
) -> dict[str, Any]:
    """What `segments preview --json` answers."""
    from connector.programs.views import segment_preview as preview

    return preview(conn, _programs(src), name, src.clock(), when=when)


# --- audit -----------------------------------------------------------------------------------
def _actions_table() -> Any:
    from connector.store.bookkeeping import OpsAction

    return OpsAction.__table__  # type: ignore[attr-defined]


def record_action(
    conn: Connection, *, who: str, action: str, target: str | None, reason: str | None = None,
    detail: dict[str, Any] | None = None, at: datetime | None = None,
) -> None:
    """Record an operator's action in the caller's transaction (with the action itself)."""
    from sqlalchemy import insert

    conn.execute(insert(_actions_table()).values(
        at=at or utcnow(), actor=who, action=action, target=target, reason=reason,
        detail=detail))


def audit_log(conn: Connection, *, limit: int = 100, before: int | None = None) -> dict[str, Any]:
    """Operator actions, newest first."""
    t = _actions_table()
    stmt = select(t).order_by(t.c.id.desc()).limit(limit + 1)
    if before:
        stmt = stmt.where(t.c.id < before)
    rows = [{**dict(r), "at": _iso(r["at"])} for r in conn.execute(stmt).mappings()]
    total = int(conn.execute(select(func.count()).select_from(t)).scalar_one())
    return {"actions": rows[:limit], "total": total,
            "next": rows[limit - 1]["id"] if len(rows) > limit else None}
