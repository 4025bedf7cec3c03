"""The real tap-salesforce extracts exactly the emulator's Opportunities (when installed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "peers" / "tap_salesforce.py"
TAP = ROOT / "bench" / "peers" / ".venv-tap" / "bin" / "tap-salesforce"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not TAP.exists(), reason="bench/peers/.venv-tap not installed (run the script once)"
    ),
]


@pytest.mark.parametrize(
    ("api_type", "records"),
    [("REST", "5000"), ("BULK", "0")],
    ids=["rest-5000-paged", "bulk-v1-csv"],
)
def test_tap_salesforce_sync_matches_the_org(api_type: str, records: str) -> None:
    """Discover, select Opportunity, sync: the RECORD ids equal a queryAll on the org."""
    args = [sys.executable, str(SCRIPT), "--api-type", api_type]
    if records != "0":
        args += ["--records", records]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["ok"], summary
    assert proc.returncode == 0
    assert summary["records_extracted"] == summary["org_records"] > 0
    assert summary["duplicates"] == 0
    if records != "0":
        assert summary["org_records"] > int(records)
