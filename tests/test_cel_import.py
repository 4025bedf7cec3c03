"""The CEL evaluator is imported without its interactive shell (prompt_toolkit, pygments);
the shell still loads when something asks for it."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import json, sys
import connector.triggers.engine  # compiles and evaluates rules with cel
import cel
result = {"value": cel.evaluate("1 + 2", {}),
          "shell_loaded": "prompt_toolkit" in sys.modules}
from cel.cli import main
result["main"] = callable(main)
result["shell_loaded_after"] = "prompt_toolkit" in sys.modules
result["same"] = sys.modules["cel.cli"] is cel.cli
print(json.dumps(result))
"""


def test_cel_evaluates_without_loading_its_shell_until_asked() -> None:
    """Evaluating needs no REPL; `from cel.cli import main` loads the real module once."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(out.stdout) == {
        "value": 3,
        "shell_loaded": False,
        "main": True,
        "shell_loaded_after": True,
        "same": True,
    }
