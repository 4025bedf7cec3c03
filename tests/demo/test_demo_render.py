"""How the demo shows what each fired action did (not only its name)."""

from __future__ import annotations

from connector.cli.demo_cmd import _actions


def test_a_skipped_action_shows_why_and_a_done_action_its_detail() -> None:
    why = "already allocated for FY2026-Q4"
    shown = _actions([
        {"action": "award_points", "status": "done", "detail": "+50 -> 100"},
        {"action": "allocate_mdf", "status": "skipped", "detail": why},
    ])
    assert shown == f"award_points: +50 -> 100; allocate_mdf: skipped ({why})"


def test_planned_actions_of_a_dry_run_show_their_names() -> None:
    assert _actions([{"action": "set_tier", "params": {"level": "Gold"}}]) == "set_tier"
    assert _actions(None) == ""
