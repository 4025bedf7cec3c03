"""programs.yaml loading: the broken-file corpus, the shipped default, settings' programs path."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.programs.loader import load_programs, loads_programs
from connector.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "config_corpus" / "programs"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")
DEFAULT = ROOT / "connector" / "defaults" / "programs.yaml"


def test_corpus_has_at_least_twenty_cases() -> None:
    """The broken-programs corpus is big enough to mean something."""
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_programs_file_is_reported_at_its_line_and_column(case: Path) -> None:
    """Given a broken programs.yaml, loading raises a ConfigError whose first line is expected."""
    m = EXPECT.match(case.read_text().splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    line, col, fragment = int(m.group(1)), int(m.group(2)), m.group(3)
    with pytest.raises(ConfigError) as info:
        load_programs(case)
    first = info.value.problems[0]
    assert (first.line, first.column) == (line, col), str(info.value)
    assert fragment in first.message
    assert first.file == str(case)
    assert str(info.value).startswith(f"{case}:{line}:{col}: ")


def test_the_default_program_has_what_the_issue_promises() -> None:
    """Two partner-type onboarding tracks, a technical track gating sales, 4 levels, a variant."""
    spec = load_programs(DEFAULT)
    tracks = spec.tracks
    onboarding = [t for t in tracks.values() if t.partner_types]
    assert len(onboarding) == 2
    assert {p for t in onboarding for p in t.partner_types} >= {"Reseller", "MSP"}
    assert tracks["cloud-sales"].requires == ("cloud-technical",)
    ladder = spec.programs["partner-network"].ladder
    assert ladder is not None
    assert [c.level for c in ladder.levels] == ["Registered", "Silver", "Gold", "Platinum"]
    assert ladder.variants and ladder.variants[0].countries
    assert len(spec.segments) == 2
    assert {s for i in spec.incentives.values() for s in i.eligible.segments} == set(
        spec.segments
    )
    assert all(s.points > 0 for s in spec.steps.values())


def test_every_problem_in_a_file_is_reported_together() -> None:
    """An unknown segment and a duplicate step id in one file are both reported."""
    text = """\
programs:
  p:
    name: P
    tracks:
      t:
        open_to: {segments: [nope]}
        steps:
          - {id: a, kind: task}
          - {id: a, kind: task}
"""
    with pytest.raises(ConfigError) as info:
        loads_programs(text)
    messages = [p.message for p in info.value.problems]
    assert any("unknown segment 'nope'" in m for m in messages)
    assert any("duplicate step id 'a'" in m for m in messages)


def test_sequential_track_orders_its_steps_and_a_step_may_require_another_track() -> None:
    """`sequential: true` plus a cross-track requirement that closes a loop is a cycle."""
    text = """\
programs:
  p:
    name: P
    tracks:
      t:
        sequential: true
        steps:
          - {id: a, kind: task}
          - {id: b, kind: task}
      u:
        steps:
          - {id: c, kind: task, requires: [t]}
          - {id: d, kind: task}
"""
    spec = loads_programs(text)
    assert spec.steps["c"].requires == ("t",)
    with pytest.raises(ConfigError, match="cyclic prerequisites"):
        loads_programs(text.replace("{id: a, kind: task}", "{id: a, kind: task, requires: [c]}"))


def _config_dir(tmp_path: Path, programs_line: str | None) -> Path:
    shutil.copy(ROOT / "connector" / "defaults" / "connector.yaml", tmp_path / "connector.yaml")
    (tmp_path / "mapping.yaml").write_text("entities: {}\n")
    (tmp_path / "triggers.yaml").write_text("triggers: []\n")
    if programs_line is not None:
        with (tmp_path / "connector.yaml").open("a") as f:
            f.write(programs_line + "\n")
    return tmp_path / "connector.yaml"


ENV = {
    "PRM_SF_LOGIN_URL": "https://acme.my.salesforce.com",
    "PRM_SF_USERNAME": "u@example.com",
    "PRM_SF_PASSWORD": "pw",
    "PRM_SF_CLIENT_ID": "cid",
    "PRM_SF_CLIENT_SECRET": "secret",
}


def test_settings_find_programs_yaml_next_to_connector_yaml(tmp_path: Path) -> None:
    """Without a `programs:` key, programs.yaml beside connector.yaml is used when present."""
    path = _config_dir(tmp_path, None)
    assert load_settings(path, env=ENV).programs_path is None
    shutil.copy(DEFAULT, tmp_path / "programs.yaml")
    assert load_settings(path, env=ENV).programs_path == tmp_path / "programs.yaml"


def test_settings_report_a_missing_programs_file_at_its_line(tmp_path: Path) -> None:
    """`programs: other.yaml` naming no file is a located config error."""
    path = _config_dir(tmp_path, "programs: other.yaml")
    with pytest.raises(ConfigError, match=r"programs: no such file .*other\.yaml") as info:
        load_settings(path, env=ENV)
    line = path.read_text().splitlines().index("programs: other.yaml") + 1
    assert info.value.problems[0].line == line
