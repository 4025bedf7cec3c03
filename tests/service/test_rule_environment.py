"""One rule environment per runtime: ladders, segments and rules read one fiscal calendar,
one set of facts and actions, and two runtimes never share (or leak) them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from triggers.trigtools import Store, default_spec

from connector.errors import ConfigError
from connector.partners.env import RuleEnv
from connector.programs import loads_programs
from connector.programs.facts import LEDGER, MEMBERSHIP
from connector.programs.hooks import extension
from connector.programs.stage import ProgramsStage
from connector.programs.views import partner_report
from connector.service import open_runtime, stage_context
from connector.triggers import loads_triggers
from connector.triggers.stage import TriggersStage

from clirunner import invoke

PROGRAMS = """\
segments:
  won-this-quarter: {when: "partner.closed_won_this_quarter >= 1000.0"}
programs:
  partner-network:
    name: Partner Program
    tracks:
      basics:
        steps:
          - {id: agreement, kind: milestone, name: Agreement signed, points: 10}
    ladder:
      levels:
        Registered: {}
        Silver: {min: {closed_won_this_quarter: 1000}}
"""
TRIGGERS = """\
settings:
  fiscal_year_start_month: {month}
triggers:
  - id: won-this-quarter
    entity: deal
    on: [created]
    when: partner.closed_won_this_quarter >= 1000.0
    actions:
      - award_points: {{points: 7, reason: "won this quarter"}}
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PRM_SF_LOGIN_URL": "https://127.0.0.1:9", "PRM_SF_USERNAME": "u@example.com",
        "PRM_SF_PASSWORD": "pw", "PRM_SF_CLIENT_ID": "cid", "PRM_SF_CLIENT_SECRET": "secret",
        "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }


@pytest.mark.parametrize(("month", "now", "closed"), [
    # April: fiscal quarters start with the calendar's (FY2027-Q2 is July-September)
    (4, datetime(2026, 7, 15, 9, 0, tzinfo=UTC), date(2026, 7, 2)),
    # May: this fiscal quarter is May-July, and the deal is in it but not in calendar Q3
    (5, datetime(2026, 7, 15, 9, 0, tzinfo=UTC), date(2026, 5, 20)),
])
def test_ladders_and_rules_agree_on_the_quarter(
    tmp_path: Path, month: int, now: datetime, closed: date
) -> None:
    """With fiscal_year_start_month in triggers.yaml, a deal won in this fiscal quarter moves
    the partner up its ladder (programs stage) and fires the rule that reads the same fact
    (triggers stage): both count quarters from the runtime's one fiscal calendar."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    (tmp_path / "programs.yaml").write_text(PROGRAMS)
    (tmp_path / "triggers.yaml").write_text(TRIGGERS.format(month=month))
    rt = open_runtime(tmp_path / "connector.yaml", env=_env(tmp_path), clock=lambda: now)
    try:
        assert rt.rules.fiscal_year_start_month == month
        store = Store(rt.engine, rt.spec)
        levels = store.program()
        _, pid = store.partner("Fiscal Partner", level="Registered", levels=levels)
        store.put("deal", {"name": "Q deal", "partner": pid, "amount": 5000.0,
                           "is_won": True, "is_closed": True, "stage": "Closed Won",
                           "close_date": closed})
        programs = ProgramsStage.for_runtime(rt)
        assert programs is not None
        ctx = stage_context(rt, "r1")
        assert programs.run(ctx)["tier_changes"] == 1
        assert TriggersStage.for_runtime(rt).run(ctx)["fired"] == 1
        assert store.row("partner", pid)["tier"] == "Silver"
        with rt.engine.connect() as conn:
            awarded = conn.execute(select(LEDGER.c.points).where(
                LEDGER.c.partner_id == pid)).scalars().all()
            # the segment the stage computed, and what `partner show` reports, agree too:
            # the runtime's programs.yaml carries the fiscal calendar
            inside = conn.execute(select(MEMBERSHIP.c.segment).where(
                MEMBERSHIP.c.partner_id == pid, MEMBERSHIP.c.left_at.is_(None))).scalars().all()
            assert rt.programs is not None
            report = partner_report(conn, rt.programs, pid, now)
        assert awarded == [7]
        assert inside == ["won-this-quarter"]
        assert report["facts"]["closed_won_this_quarter"] == 5000.0
        assert report["segments_now"] == ["won-this-quarter"]
    finally:
        rt.close()


RULE_WITH_ENROL = """\
triggers:
  - id: enrol-on-create
    entity: partner
    on: [created]
    actions:
      - enroll: {track: basics}
"""


def test_an_environment_without_programs_has_no_stale_program_actions() -> None:
    """Building an environment without programs.yaml after one with it (the old
    ``install(spec)`` then ``install(None)``) leaves the first intact and gives the second no
    ``enroll``/``complete_step``: nothing is registered into a global."""
    spec_map = default_spec()
    programs = loads_programs(PROGRAMS)
    with_programs = RuleEnv().extended(extension(programs))
    without = RuleEnv().extended(extension(None))
    assert {"enroll", "complete_step", "review_tier"} <= set(with_programs.actions)
    assert not {"enroll", "complete_step"} & set(without.actions)
    assert without.segments is None and with_programs.segments == {"won-this-quarter"}
    assert loads_triggers(RULE_WITH_ENROL, spec_map, env=with_programs).rules
    with pytest.raises(ConfigError, match="unknown action 'enroll'"):
        loads_triggers(RULE_WITH_ENROL, spec_map, env=without)
    # the first environment is untouched by the second
    rules = loads_triggers(RULE_WITH_ENROL, spec_map, env=with_programs)
    assert rules.env.actions["enroll"].run is not None
