"""A corpus of hostile CEL: `check` refuses each with file:line:col and exit 2, before any of
it is compiled or run (bounds and a cost estimate), and never with a traceback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from clirunner import invoke

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "config_corpus" / "hostile_cel"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PRM_SF_LOGIN_URL": "https://127.0.0.1:9", "PRM_SF_USERNAME": "u@example.com",
        "PRM_SF_PASSWORD": "pw", "PRM_SF_CLIENT_ID": "cid", "PRM_SF_CLIENT_SECRET": "secret",
        "PRM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PRM_CONFIG": "",
    }


def test_the_corpus_covers_each_kind_of_hostile_rule() -> None:
    """Bombs, huge literals, deep nesting and past-64K expressions, in rules, action
    parameters and segments."""
    names = " ".join(c.name for c in CASES)
    for kind in ("comprehensions", "doubling", "string-literal", "list-literal", "map-literal",
                 "parentheses", "negation", "past-64k", "action", "segment"):
        assert kind in names, kind


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_check_refuses_hostile_cel_at_its_line_and_column(case: Path, tmp_path: Path) -> None:
    """`check` exits 2 with the problem's file:line:col first, one line, no traceback."""
    m = EXPECT.match(case.read_text().splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    line, col, fragment = int(m.group(1)), int(m.group(2)), m.group(3)
    assert invoke("init", str(tmp_path)).exit_code == 0
    target = tmp_path / ("programs.yaml" if case.name.endswith(".programs.yaml")
                         else "triggers.yaml")
    shutil.copyfile(case, target)
    res = invoke("check", "--offline", "-c", str(tmp_path / "connector.yaml"),
                 env=_env(tmp_path))
    assert res.exit_code == 2, res.stderr
    first = res.stderr.splitlines()[0]
    assert first.startswith(f"{target}:{line}:{col}: "), first
    assert fragment in first
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr
    assert not (tmp_path / "x.db").exists()
