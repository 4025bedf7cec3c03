"""The daemon follows its rule environment: a reload that adds or removes programs.yaml adds
or drops the programs stage, and one that adds, removes or re-times a scheduled rule re-plans
the cron jobs (no Salesforce needed: the daemon is built, not run)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.daemon.runner import Daemon, DaemonOptions
from connector.daemon.scheduler import Plan, build_scheduler
from connector.daemon.triggers import reload_rules, scheduled_jobs
from connector.service import open_runtime

from clirunner import invoke
from prmfixtures import offline_env

SCHEDULED = """\
triggers:
{rules}
"""
RULE = """\
  - id: {rule}
    entity: deal_registration
    schedule: "{cron}"
    when: new.status == 'Submitted'
    actions:
      - set_field: {{field: decision_reason, value: "'{rule}'"}}
"""



def _write(path: Path, text: str) -> None:
    """Write ``text`` so the rule environment sees a change (mtime resolution aside)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(time.time_ns(), before + 1_000_000))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon over a fresh `init` folder without programs.yaml, with the scheduled rules of
    triggers.yaml as jobs (as `prm-connector daemon` makes it)."""
    assert invoke("init", str(tmp_path)).exit_code == 0
    programs = tmp_path / "programs.yaml"
    (tmp_path / "programs.yaml.saved").write_text(programs.read_text())
    programs.unlink()
    _write(tmp_path / "triggers.yaml",
           SCHEDULED.format(rules=RULE.format(rule="nightly", cron="0 1 * * *")))
    rt = open_runtime(tmp_path / "connector.yaml", env=offline_env(tmp_path))
    d = Daemon(rt, DaemonOptions(listen="127.0.0.1:0"), scheduled=scheduled_jobs)
    try:
        yield d
    finally:
        rt.close()


def _stage_names(d: Daemon) -> list[str]:
    return [s.name for s in d._stages()]


def test_a_programs_yaml_added_or_removed_adds_or_drops_the_programs_stage(
    daemon: Daemon, tmp_path: Path
) -> None:
    """No programs.yaml at start: no programs stage. One added next to connector.yaml: the
    reload loads it and the next cycle runs the programs stage first after local edits.
    Removed again: the stage goes."""
    assert "programs" not in _stage_names(daemon)
    _write(tmp_path / "programs.yaml", (tmp_path / "programs.yaml.saved").read_text())
    assert reload_rules(daemon.rt)
    assert daemon.rt.rules.programs is not None
    assert _stage_names(daemon) == ["outbox-local", "programs", "triggers", "outbox"]
    (tmp_path / "programs.yaml").unlink()
    assert reload_rules(daemon.rt)
    assert daemon.rt.rules.programs is None
    assert "programs" not in _stage_names(daemon)


def test_a_reload_re_plans_the_cron_jobs_of_scheduled_rules(
    daemon: Daemon, tmp_path: Path
) -> None:
    """A scheduled rule added, one removed and one re-timed in triggers.yaml: after the job
    that reloaded the environment, the scheduler holds one cron job per scheduled rule of the
    new file, and the writer runs the new kinds (and no longer the removed one)."""
    sched = build_scheduler(Plan(poll_interval=600, outbox_interval=600,
                                 push_retry_interval=600,
                                 crons=[(k, c) for k, c, _ in daemon._scheduled]),
                            lambda _kind: None)
    sched.start(paused=True)
    daemon._scheduler = sched
    try:
        def crons() -> dict[str, str]:
            return {j.id: str(j.trigger) for j in sched.get_jobs() if j.id.startswith("trigger:")}

        assert list(crons()) == ["trigger:nightly"]
        daemon._done("outbox", "ok", 0.0, None)  # nothing reloaded: nothing re-planned
        assert list(crons()) == ["trigger:nightly"]
        before = crons()["trigger:nightly"]

        _write(tmp_path / "triggers.yaml", SCHEDULED.format(
            rules=RULE.format(rule="nightly", cron="30 3 * * *")
            + RULE.format(rule="weekly", cron="0 4 * * 1")))
        assert reload_rules(daemon.rt)
        daemon._done("outbox", "ok", 0.0, None)
        assert sorted(crons()) == ["trigger:nightly", "trigger:weekly"]
        assert crons()["trigger:nightly"] != before
        daemon.writer.request("trigger:weekly")  # a kind the writer runs now
        assert "trigger:weekly" in daemon.writer.pending()

        _write(tmp_path / "triggers.yaml",
               SCHEDULED.format(rules=RULE.format(rule="weekly", cron="0 4 * * 1")))
        assert reload_rules(daemon.rt)
        daemon._done("outbox", "ok", 0.0, None)
        assert list(crons()) == ["trigger:weekly"]
        with pytest.raises(KeyError):
            daemon.writer.request("trigger:nightly")
    finally:
        sched.shutdown(wait=False)
