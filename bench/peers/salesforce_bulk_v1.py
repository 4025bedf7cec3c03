"""Run salesforce-bulk (PyPI, a Bulk API 1.0 client that sends XML job requests) against the
emulator, unmodified, and say which calls it made and whether each succeeded.

    python bench/peers/salesforce_bulk_v1.py [--calls FILE]

1. Creates bench/peers/.venv-bulk1 once with ``pip install 'salesforce-bulk==2.2.0'``.
2. Starts an emulator (demo seed), logs the integration user in (OAuth password flow).
3. Runs ``bulk_v1_driver.py`` in that venv: CSV insert, update, upsert, delete; an XML batch;
   a row error; CSV queries; job and batch status calls (REQUESTS_CA_BUNDLE = the emulator CA).
4. Reads the emulator's call log (``GET /_emulator/calls``).

Prints one JSON line ``{"ok", "steps", "calls"}`` and exits 0 when every step succeeded; with
``--calls FILE`` also writes the distinct calls (ids folded to ``{id}``) there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv-bulk1"
SPEC = "salesforce-bulk==2.2.0"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from callrecord import fold  # noqa: E402

from connector.emulator.testing import running_emulator  # noqa: E402


def ensure_venv() -> Path:
    """The venv's python, installing salesforce-bulk on first use."""
    python = VENV / "bin" / "python"
    if not (VENV / "lib").exists() or subprocess.run(
        [str(python), "-c", "import salesforce_bulk"], capture_output=True
    ).returncode:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", SPEC], check=True)
    return python


def run() -> dict[str, Any]:
    """Drive the client against a fresh emulator; the summary."""
    python = ensure_venv()
    with running_emulator(seed="demo") as emu:
        token = emu.token("integration")
        env = {**os.environ, "REQUESTS_CA_BUNDLE": emu.ca_bundle}
        proc = subprocess.run(
            [str(python), str(HERE / "bulk_v1_driver.py"), emu.instance_url, token],
            capture_output=True, text=True, timeout=600, env=env,
        )
        lines = proc.stdout.strip().splitlines()
        report = json.loads(lines[-1]) if lines else {"ok": False, "steps": [
            {"step": "driver", "ok": False, "detail": proc.stderr[-2000:]}]}
        calls = emu.call("GET", "/_emulator/calls")["calls"]
    return {"client": SPEC, "ok": report["ok"] and proc.returncode == 0,
            "steps": report["steps"], "calls": fold(calls)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=Path, help="write the distinct calls here (JSON)")
    args = parser.parse_args()
    summary = run()
    if args.calls:
        args.calls.write_text(json.dumps(summary["calls"], indent=1) + "\n")
    print(json.dumps(summary))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
