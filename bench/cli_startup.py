"""CLI start-up: the median wall time of ``prm-connector --help`` over N runs.

    .venv/bin/python bench/cli_startup.py [--runs 20] [--command "status --help"]

Each run is a new process, as a user's shell starts it, so the figure is mostly imports.
Prints a small table and one JSON line. The machine's load moves the figure; compare it with
the bare interpreter's start-up, printed beside it as a ratio.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _script() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m connector``."""
    found = Path(sys.executable).parent / "prm-connector"
    if found.exists():
        return [str(found)]
    on_path = shutil.which("prm-connector")
    return [on_path] if on_path else [sys.executable, "-m", "connector"]


def _times(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    """Run the command N times and print the median, min and the bare-interpreter baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="processes to start (default 20)")
    parser.add_argument("--command", default="--help", help="arguments after prm-connector")
    args = parser.parse_args()

    argv = [*_script(), *shlex.split(args.command)]
    _times(argv, 1)  # warm the OS page cache and .pyc files once
    cli = _times(argv, args.runs)
    bare = _times([sys.executable, "-c", "pass"], args.runs)
    result = {
        "command": "prm-connector " + args.command,
        "runs": args.runs,
        "median_s": round(statistics.median(cli), 4),
        "min_s": round(min(cli), 4),
        "python_median_s": round(statistics.median(bare), 4),
        "ratio_to_bare_python": round(statistics.median(cli) / statistics.median(bare), 2),
    }
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'x bare python':>14}")
    print(
        f"{result['command']:<28} {result['median_s']:>9.3f} {result['min_s']:>7.3f} "
        f"{result['ratio_to_bare_python']:>14.1f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
